// A Node.js Lambda function with its own log group, JSON logging and inline code. The runtime
// and code size are checked here so a bad value fails the build, not the deployment.
import { GetAtt, Ref, type Value } from './intrinsics.ts';
import { NODE_RUNTIME_DEPRECATION } from '../config.ts';
import { LAMBDA_MEMORY_MB, LAMBDA_ZIPFILE_MAX_BYTES } from '../../contract/limits.ts';
import { KitError } from './errors.ts';
import type { Template } from './template.ts';

/** Code.ZipFile holds at most 4 MB once zipped; the source itself is the safe bound to check. */
export const ZIPFILE_MAX_BYTES = LAMBDA_ZIPFILE_MAX_BYTES;

export interface NodeFunctionOptions {
  id: string;
  functionName: Value;
  description: string;
  code: string;
  runtime: string;
  architecture: 'arm64' | 'x86_64';
  roleId: string;
  memoryMb: number;
  timeoutSeconds: number;
  environment: Record<string, Value>;
  logRetentionDays: number;
  /** Buildtime date that decides whether the runtime is deprecated. */
  today: Date;
  reservedConcurrency?: number;
  /** Customer managed key for the log group, when the stack has one. */
  logKmsKeyArn?: Value;
  dependsOn?: string[];
}

/** The log group addNodeFunction creates for a function: grant its role logs:PutLogEvents on GetAtt(…, 'Arn'). */
export const logGroupIdOf = (functionId: string): string => `${functionId}LogGroup`;

export function addNodeFunction(t: Template, o: NodeFunctionOptions): { functionId: string; logGroupId: string } {
  checkFunctionOptions(o);
  const logGroupId = logGroupIdOf(o.id);
  t.resource(
    logGroupId,
    'AWS::Logs::LogGroup',
    {
      // No LogGroupName: a retained log group with a fixed name would make the stack fail to
      // create again (a StackSet instance removed and re-added, a redeployed hub).
      RetentionInDays: o.logRetentionDays,
      ...(o.logKmsKeyArn !== undefined ? { KmsKeyId: o.logKmsKeyArn } : {}),
    },
    { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' },
  );
  t.resource(
    o.id,
    'AWS::Lambda::Function',
    {
      FunctionName: o.functionName,
      Description: o.description,
      Runtime: o.runtime,
      Architectures: [o.architecture],
      Handler: 'index.handler',
      Role: GetAtt(o.roleId, 'Arn'),
      MemorySize: o.memoryMb,
      Timeout: o.timeoutSeconds,
      Code: { ZipFile: o.code },
      Environment: { Variables: o.environment },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: Ref(logGroupId) },
      ...(o.reservedConcurrency !== undefined ? { ReservedConcurrentExecutions: o.reservedConcurrency } : {}),
    },
    o.dependsOn?.length ? { DependsOn: o.dependsOn } : {},
  );
  return { functionId: o.id, logGroupId };
}

function checkFunctionOptions(o: NodeFunctionOptions): void {
  const fail = (property: string, message: string): never => {
    throw new KitError(o.id, property, `${o.id}: ${message}`);
  };
  const deprecatedOn = NODE_RUNTIME_DEPRECATION[o.runtime];
  if (!deprecatedOn) fail('Runtime', `runtime ${o.runtime} is not a supported Node.js runtime`);
  if (o.today.toISOString().slice(0, 10) >= deprecatedOn!) {
    fail('Runtime', `runtime ${o.runtime} was deprecated on ${deprecatedOn}`);
  }
  const bytes = Buffer.byteLength(o.code);
  if (bytes === 0) fail('Code.ZipFile', 'bundled code is empty');
  if (bytes > ZIPFILE_MAX_BYTES)
    fail('Code.ZipFile', `bundled code is ${bytes} bytes, over the 4 MB Code.ZipFile limit`);
  if (o.timeoutSeconds < 1 || o.timeoutSeconds > 900) fail('Timeout', 'timeout must be 1–900 seconds');
  if (o.memoryMb < LAMBDA_MEMORY_MB.min || o.memoryMb > LAMBDA_MEMORY_MB.max)
    fail('MemorySize', `memory must be ${LAMBDA_MEMORY_MB.min}–${LAMBDA_MEMORY_MB.max} MB`);
}
