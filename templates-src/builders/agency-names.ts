// What the two agency templates (agency-collector, agency-registration) name the same way: the
// activation parameters the collector writes and the registration document reads, the hub alias,
// and the CentralRegion parameter both declare.
import { derivedNames, type BuildConfig } from '../config.ts';
import { Sub } from '../kit/intrinsics.ts';
import type { Template } from '../kit/template.ts';
import { REGION_ALLOWED_PATTERN } from './context.ts';

/** The ARNs and paths every agency-side section names the same way. */
export function agencyNames(config: BuildConfig) {
  const paramPath = config.agencyActivationParameterPath;
  return {
    paramPath,
    /** Uses the CentralRegion and CentralAccountId parameters: only the collector template declares both. */
    hubAliasArn: Sub(
      `arn:\${AWS::Partition}:lambda:\${CentralRegion}:\${CentralAccountId}:function:${derivedNames(config).tagManagerFunctionName}:agency-\${AWS::AccountId}`,
    ),
    activationParamArn: (suffix: string) =>
      Sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${paramPath}/${suffix}`),
  };
}

/** The central-manager stack's Region, declared alike by both agency templates. */
export function centralRegionParameter(t: Template) {
  return t.parameter('CentralRegion', {
    Type: 'String',
    Description: 'Region of the central-manager stack',
    AllowedPattern: REGION_ALLOWED_PATTERN,
    ConstraintDescription: 'must be a Region name such as us-east-1',
  });
}
