package wschatcdk

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// principalPattern is an IAM role or user ARN: what the publish function
// maps a caller to (an assumed-role session counts as its role).
var principalPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$`)

// validatePublish checks the publish API settings.
func (c ChatProps) validatePublish() []error {
	var errs []error
	if c.PublishThrottleRate <= 0 || c.PublishThrottleRate > 10000 {
		errs = append(errs, fmt.Errorf("PublishThrottleRate %v: must be above 0 and at most 10000 requests/s", c.PublishThrottleRate))
	}
	if c.PublishThrottleBurst <= 0 || c.PublishThrottleBurst > 5000 {
		errs = append(errs, fmt.Errorf("PublishThrottleBurst %d: must be 1-5000", c.PublishThrottleBurst))
	}
	for _, arn := range slices.Sorted(maps.Keys(c.PublishNames)) {
		name := c.PublishNames[arn]
		if !principalPattern.MatchString(arn) {
			errs = append(errs, fmt.Errorf("PublishNames: %q: want an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)", arn))
		}
		if name == "" || len(name) > 64 {
			errs = append(errs, fmt.Errorf("PublishNames: %q: name %q must be 1-64 bytes", arn, name))
		}
	}
	return errs
}

// addPublish defines the publish function and the HTTP API in front of it,
// and grants the function exactly what its code calls: the table actions
// of the send path, the user index Query and the 410 cleanup, and
// @connections POST (messages, notices) and DELETE (disconnect).
func (s *layer) addPublish(retention awslogs.RetentionDays) {
	cfg := s.Config
	names := "{}"
	if len(cfg.PublishNames) > 0 {
		b, _ := json.Marshal(cfg.PublishNames) // a map of strings always marshals
		names = string(b)
	}
	s.Publish = s.fn("PublishFunction", contract.FunctionPublish,
		"Serves the publish HTTP API: channel messages, user notices and disconnects from backends",
		map[string]string{contract.EnvPublishNames: names}, retention)
	// The same settings as the chat function: a published message follows
	// the same send path and limits.
	for _, v := range []string{contract.EnvTableName, contract.EnvCallbackURL, contract.EnvHistoryRetention,
		contract.EnvRatePerSecond, contract.EnvRateBurst, contract.EnvMaxChannels, contract.EnvFanoutWorkers,
		contract.EnvSendBudget, contract.EnvPresenceMaxMembers, contract.EnvMetricsNamespace, contract.EnvChannelRate} {
		s.Publish.Function.AddEnvironment(jsii.String(v), s.runtimeEnv[v], nil)
	}
	s.PublishAPI = newPublishAPI(s.scope, "Publish", publishAPIProps{
		StageName:     cfg.StageName,
		ThrottleRate:  cfg.PublishThrottleRate,
		ThrottleBurst: cfg.PublishThrottleBurst,
		LogRetention:  retention,
		Retain:        cfg.retain(),
		Function:      s.Publish.Function,
	})
	s.Table.Grant(s.Publish.Role, *jsii.Strings("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
		"dynamodb:DeleteItem", "dynamodb:Query")...)
	grantManageConnections(s.API.Construct, s.API.API.ApiId(), s.API.Stage.StageName(), s.Publish.Role, "POST", "DELETE")
}

// addPublishNagSuppressions records the accepted findings on the publish
// function, for the same reasons as on the other functions.
func addPublishNagSuppressions(s *layer) {
	suppressConnectionsGrant(s, s.Publish, "POST and DELETE", "(POST|DELETE)")
	suppressFunction(s, s.Publish, syncInvokeDLQReason)
}
