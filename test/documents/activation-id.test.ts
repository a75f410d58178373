// The registration documents accept only an activation ID where they read one: the collector's
// placeholder (written while a refresh replaces both ID and code) is refused before the agent
// is touched, in both documents.
import { describe, expect, it } from 'vitest';
import { ACTIVATION_ID_PLACEHOLDER } from '../../contract/names.ts';
import {
  DOCUMENT_ACTIVATION_ID,
  LINUX_ACTIVATION_ID_PATTERN,
  WINDOWS_ACTIVATION_ID_PATTERN,
} from '../../testing/helpers/document-activation-id.ts';

describe('the activation ID the registration documents accept', () => {
  it('is the same pattern in the Linux and the Windows document', () => {
    expect(LINUX_ACTIVATION_ID_PATTERN).toBeDefined();
    expect(WINDOWS_ACTIVATION_ID_PATTERN).toBe(LINUX_ACTIVATION_ID_PATTERN);
  });

  it.each([
    ['an activation ID as SSM issues it', '0a1b2c3d-0000-4000-8000-000000000001', true],
    ["the collector's refresh placeholder", ACTIVATION_ID_PLACEHOLDER, false],
    ['an empty value', '', false],
  ])('%s: accepted %s', (_case, value, accepted) => {
    expect(DOCUMENT_ACTIVATION_ID.test(value)).toBe(accepted);
  });
});
