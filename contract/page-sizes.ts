// The largest page each paginated API the project calls accepts (the top of its MaxResults range),
// in a file of its own so a handler that needs one carries nothing else of the contract.

/** EC2 DescribeInstances: MaxResults 5–1000. */
export const EC2_DESCRIBE_INSTANCES_MAX_RESULTS = 1000;
/** SSM DescribeInstanceInformation: MaxResults 5–50. */
export const SSM_DESCRIBE_INSTANCE_INFORMATION_MAX_RESULTS = 50;
/** SSM GetParameterHistory: MaxResults 1–50. */
export const SSM_GET_PARAMETER_HISTORY_MAX_RESULTS = 50;
