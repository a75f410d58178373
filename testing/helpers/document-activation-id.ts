// The activation ID pattern the registration documents check before they touch the agent, read
// from the scripts themselves (documents/register-linux.sh read_activation, register-windows.ps1
// Read-Activation), so a test of what a reader accepts follows the real readers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../contract/project.ts';

const source = (file: string) => readFileSync(join(PROJECT_ROOT, 'documents', file), 'utf8');

/** The pattern of `[[ $AID =~ … ]]` in the Linux script. */
export const LINUX_ACTIVATION_ID_PATTERN = /\[\[ \$AID =~ (\S+) \]\]/.exec(source('register-linux.sh'))?.[1];
/** The pattern of `$script:ActivationId -notmatch '…'` in the Windows script. */
export const WINDOWS_ACTIVATION_ID_PATTERN = /\$script:ActivationId -notmatch '([^']+)'/.exec(
  source('register-windows.ps1'),
)?.[1];

/** What both documents accept as an activation ID (undefined patterns match nothing). */
export const DOCUMENT_ACTIVATION_ID = new RegExp(LINUX_ACTIVATION_ID_PATTERN ?? '(?!)');
