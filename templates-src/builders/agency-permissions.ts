// agency-permissions: one stack per agency, in the central account. It gives that agency its
// own alias of the tag manager, lets only that account invoke the alias, and creates the
// agency's hybrid activation. The tag manager learns the agency from the alias it was
// invoked through, so an agency cannot speak for another.
import { ACTIVATION_MAX_EXPIRY_DAYS, ACTIVATION_MAX_REGISTRATION_LIMIT } from '../../contract/limits.ts';
import { derivedNames } from '../config.ts';
import { ImportValue, Ref, Sub } from '../kit/intrinsics.ts';
import { Template } from '../kit/template.ts';
import { parameterInterface } from '../kit/interface.ts';
import type { BuildContext } from './context.ts';
import { ACCOUNT_ID_ALLOWED_PATTERN } from './context.ts';

/** The template's Description: `status` also finds permissions stacks by it, whatever their name. */
export const AGENCY_PERMISSIONS_DESCRIPTION =
  "SSM central hub (central account): one agency's invoke permission on its own tag-manager alias, and its hybrid activation.";

export function buildAgencyPermissions(ctx: BuildContext): Template {
  const { config } = ctx;
  const names = derivedNames(config);
  const t = new Template('agency-permissions', AGENCY_PERMISSIONS_DESCRIPTION);

  const agency = t.parameter('AgencyAccountId', {
    Type: 'String',
    Description: 'The agency account (12 digits) this stack grants access to',
    AllowedPattern: ACCOUNT_ID_ALLOWED_PATTERN,
    ConstraintDescription: 'must be a 12-digit AWS account ID',
  });
  t.parameter('CentralManagerStackName', {
    Type: 'String',
    Default: names.centralStackName,
    Description: 'Name of the central-manager stack in this account and Region (its exports are imported)',
    AllowedPattern: '^[A-Za-z][A-Za-z0-9-]{0,127}$',
    ConstraintDescription: 'must be a CloudFormation stack name',
  });
  const limit = t.parameter('RegistrationLimit', {
    Type: 'Number',
    Default: config.activation.registrationLimit,
    MinValue: 1,
    MaxValue: ACTIVATION_MAX_REGISTRATION_LIMIT,
    Description: `How many instances one activation may register (1–${ACTIVATION_MAX_REGISTRATION_LIMIT}). A new activation is issued when ${config.activation.rotateAtUsagePercent}% of them are used`,
  });
  const expiry = t.parameter('ActivationExpiryDays', {
    Type: 'Number',
    Default: config.activation.expiryDays,
    // Shorter lifetimes would make every rotation run rotate again.
    MinValue: config.activation.rotateDaysBeforeExpiry + 1,
    MaxValue: ACTIVATION_MAX_EXPIRY_DAYS,
    Description: `Lifetime of each activation in days (${config.activation.rotateDaysBeforeExpiry + 1}–${ACTIVATION_MAX_EXPIRY_DAYS}); rotation starts ${config.activation.rotateDaysBeforeExpiry} days before it ends`,
  });

  t.resource('AgencyAlias', 'AWS::Lambda::Alias', {
    Description: Sub(
      'Invoked only by agency account ${AgencyAccountId}; the tag manager reads the agency from this alias',
    ),
    FunctionName: ImportValue(Sub('${CentralManagerStackName}-TagManagerFunctionName')),
    FunctionVersion: '$LATEST',
    Name: Sub('agency-${AgencyAccountId}'),
  });
  // The permission lives on the alias, not the function: only this account, only this alias.
  t.resource('AgencyInvokePermission', 'AWS::Lambda::Permission', {
    Action: 'lambda:InvokeFunction',
    FunctionName: Ref('AgencyAlias'),
    Principal: agency,
  });
  t.resource('AgencyActivation', 'Custom::AgencyActivation', {
    ServiceToken: ImportValue(Sub('${CentralManagerStackName}-ActivationManagerFunctionArn')),
    AgencyAccountId: agency,
    RegistrationLimit: limit,
    ExpiryDays: expiry,
  });

  t.output('AgencyAliasArn', { Description: "The alias this agency's collector invokes", Value: Ref('AgencyAlias') });
  parameterInterface(t, [
    { label: 'Agency', parameters: [['AgencyAccountId', 'Agency account ID']] },
    {
      label: 'Activation',
      parameters: [
        ['RegistrationLimit', 'Registrations per activation'],
        ['ActivationExpiryDays', 'Activation lifetime (days)'],
      ],
    },
    { label: 'Hub', parameters: [['CentralManagerStackName', 'Central stack name']] },
  ]);
  return t;
}
