// Package lambdaenv builds the environment a function process starts with on
// this machine: what Lambda itself would set (region, credentials) with local
// stand-ins, then the function's own variables from the template. The
// emulator and the benchmarks' cold-start measurement both start functions,
// and both must give them the same environment.
package lambdaenv

// Endpoints are the local servers the SDK's clients are pointed at, each
// through its service's AWS_ENDPOINT_URL_<SERVICE>; "" leaves one alone.
type Endpoints struct {
	DynamoDB string
	SQS      string
	// Lambda, Events and SecretsManager are the emulator's services
	// (Lambda Invoke, EventBridge, Secrets Manager).
	Lambda         string
	Events         string
	SecretsManager string
}

// Merge returns the environment of a function in region whose template
// variables are fn. dynamoEndpoint, when not "", points the SDK's DynamoDB
// client at a local server. fn wins over the defaults: the template is what
// would deploy.
func Merge(region, dynamoEndpoint string, fn map[string]string) map[string]string {
	return WithEndpoints(region, Endpoints{DynamoDB: dynamoEndpoint}, fn)
}

// WithEndpoints is Merge with every local endpoint.
func WithEndpoints(region string, ep Endpoints, fn map[string]string) map[string]string {
	env := map[string]string{
		"AWS_REGION":         region,
		"AWS_DEFAULT_REGION": region,
		// Static credentials: the SDK needs some, and local servers accept any.
		"AWS_ACCESS_KEY_ID":     "local",
		"AWS_SECRET_ACCESS_KEY": "local",
		// No instance metadata on this machine: without this the SDK spends
		// seconds probing for it.
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	if ep.DynamoDB != "" {
		env["AWS_ENDPOINT_URL_DYNAMODB"] = ep.DynamoDB
	}
	if ep.SQS != "" {
		env["AWS_ENDPOINT_URL_SQS"] = ep.SQS
	}
	for name, v := range map[string]string{"AWS_ENDPOINT_URL_LAMBDA": ep.Lambda, "AWS_ENDPOINT_URL_EVENTS": ep.Events, "AWS_ENDPOINT_URL_SECRETS_MANAGER": ep.SecretsManager} {
		if v != "" {
			env[name] = v
		}
	}
	for k, v := range fn {
		env[k] = v
	}
	return env
}
