// Run Command limits `ssm-hub run` keeps, each with the document that sets it. A file of its own:
// no Lambda imports it, so the bundles inside the templates do not change with it.

/**
 * SendCommand (SSM API reference, SendCommand): at most 5 Targets; InstanceIds at most 50; Comment at
 * most 100 characters. Tag targets: "You can specify a maximum of 5 keys, and 5 values for each key"
 * (Run Command user guide, "Run commands at scale"); the API reference's Target.Values allows 50
 * but says the maximum "might be lower" for some target types, so the lower number is kept.
 */
export const SEND_COMMAND_LIMITS = {
  targets: 5,
  valuesPerTagKey: 5,
  instanceIds: 50,
  commentLength: 100,
} as const;

/** MaxConcurrency and MaxErrors: 1-7 characters (SSM API reference, SendCommand, Length Constraints), beside their patterns in patterns.ts. */
export const RATE_CONTROL_MAX_LENGTH = 7;
