// agency-registration: deployed in every agency account by a second StackSet, beside
// agency-collector. It holds the register document and the optional zero-touch association
// that runs it on opted-in instances. The document reads the activation the collector keeps
// in the agency's SecureString parameters, and the instance role (in agency-collector) lets
// an instance read exactly those. It is a template of its own so that each agency template
// fits a TemplateBody (issue 14); the sections follow the agency half of the README's
// architecture diagram: register document, zero-touch association; then outputs.
import { SSM_MAX_KEY_LENGTH, SSM_MAX_VALUE_LENGTH } from '../../contract/limits.ts';
import { SSM_TAG_ASCII_CHARACTERS } from '../../contract/patterns.ts';
import { registrationDocument } from '../../documents/index.ts';
import { MANAGED_INSTANCE_ID_TAG } from '../../lambda/shared/names.ts';
import type { BuildConfig } from '../config.ts';
import { parameterInterface } from '../kit/interface.ts';
import { Ref, Sub, type Value } from '../kit/intrinsics.ts';
import { Template } from '../kit/template.ts';
import { addToggle } from '../kit/shortcuts.ts';
import { agencyNames, centralRegionParameter } from './agency-names.ts';
import type { BuildContext } from './context.ts';

export function buildAgencyRegistration(ctx: BuildContext): Template {
  const t = new Template(
    'agency-registration',
    'SSM central hub, agency account: registration document and optional zero-touch registration.',
  );
  parameters(t, ctx.config);
  registerDocument(t, ctx.config);
  zeroTouchAssociation(t, ctx.config);
  t.output('RegisterDocumentName', {
    Description: 'Run this document to register instances with the hub',
    Value: Ref('RegisterDocument'),
  });
  parameterInterface(t, [
    { label: 'Hub', parameters: [['CentralRegion', 'Region']] },
    {
      label: 'Registration',
      parameters: [
        ['EnableZeroTouchRegistration', 'Zero-touch'],
        ['OptInTagKey', 'Tag key'],
        ['OptInTagValue', 'Tag value'],
      ],
    },
  ]);
  return t;
}

function parameters(t: Template, config: BuildConfig): void {
  centralRegionParameter(t);
  addToggle(t, 'EnableZeroTouchRegistration', {
    default: config.zeroTouch.enabledByDefault,
    description: "true: tagged instances move to the central account's SSM",
    condition: 'ZeroTouchEnabled',
  });
  t.parameter('OptInTagKey', {
    Type: 'String',
    Default: config.zeroTouch.optInTagKey,
    Description: 'Opt-in tag key for zero-touch registration',
    AllowedPattern: `^[${SSM_TAG_ASCII_CHARACTERS}]{1,${SSM_MAX_KEY_LENGTH}}$`,
    ConstraintDescription: `must be 1–${SSM_MAX_KEY_LENGTH} letters, digits, spaces or _ . : / = + - @`,
  });
  t.parameter('OptInTagValue', {
    Type: 'String',
    Default: config.zeroTouch.optInTagValue,
    Description: 'Value of the opt-in tag',
    AllowedPattern: `^[${SSM_TAG_ASCII_CHARACTERS}]{0,${SSM_MAX_VALUE_LENGTH}}$`,
    ConstraintDescription: `must be up to ${SSM_MAX_VALUE_LENGTH} letters, digits, spaces or _ . : / = + - @`,
  });
}

/** The register document: it reads the activation the collector keeps, on the instance itself. */
function registerDocument(t: Template, config: BuildConfig): void {
  t.resource('RegisterDocument', 'AWS::SSM::Document', {
    DocumentType: 'Command',
    Content: registrationDocument({
      hubRegion: Ref('CentralRegion'),
      activationParameterPath: agencyNames(config).paramPath,
      reservedTagPrefix: config.reservedTagPrefix,
      managedInstanceIdTagKey: MANAGED_INSTANCE_ID_TAG,
    }) as unknown as Value,
  });
}

/**
 * The zero-touch association runs the register document on opted-in instances. The
 * deregistration document lives in central-manager: once registered, an instance's agent
 * answers only the hub's Run Command, so only the hub can send it the way back.
 */
function zeroTouchAssociation(t: Template, config: BuildConfig): void {
  t.resource(
    'ZeroTouchAssociation',
    'AWS::SSM::Association',
    {
      AssociationName: `${config.namePrefix}-zero-touch-registration`,
      Name: Ref('RegisterDocument'),
      Targets: [{ Key: Sub('tag:${OptInTagKey}'), Values: [Ref('OptInTagValue')] }],
      Parameters: { HubRegion: [Ref('CentralRegion')], ActivationParameterPath: [agencyNames(config).paramPath] },
      // Retries hourly, like the collector that writes the activation: an instance that launched
      // before the activation arrived registers within the hour (registered ones exit at once).
      ScheduleExpression: 'rate(1 hour)',
      ComplianceSeverity: 'HIGH',
    },
    { Condition: 'ZeroTouchEnabled' },
  );
}
