package chatstack

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
func (c Config) validatePublish() []error {
	var errs []error
	if c.PublishThrottleRate <= 0 || c.PublishThrottleRate > 10000 {
		errs = append(errs, fmt.Errorf("publish throttle rate %v must be above 0 and at most 10000 requests/s", c.PublishThrottleRate))
	}
	if c.PublishThrottleBurst <= 0 || c.PublishThrottleBurst > 5000 {
		errs = append(errs, fmt.Errorf("publish throttle burst %d must be 1-5000", c.PublishThrottleBurst))
	}
	for _, arn := range slices.Sorted(maps.Keys(c.PublishNames)) {
		name := c.PublishNames[arn]
		if !principalPattern.MatchString(arn) {
			errs = append(errs, fmt.Errorf("publish name for %q: want an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)", arn))
		}
		if name == "" || len(name) > 64 {
			errs = append(errs, fmt.Errorf("publish name for %q: %q must be 1-64 bytes", arn, name))
		}
	}
	return errs
}

// addPublish defines the publish function and the HTTP API in front of it,
// and grants the function exactly what its code calls: the table actions
// of the send path, the user index Query and the 410 cleanup, and
// @connections POST (messages, notices) and DELETE (disconnect).
func (s *ChatStack) addPublish(moduleRoot string, retention awslogs.RetentionDays) error {
	cfg := s.Config
	names := "{}"
	if len(cfg.PublishNames) > 0 {
		b, err := json.Marshal(cfg.PublishNames)
		if err != nil {
			return fmt.Errorf("publish names: %w", err)
		}
		names = string(b)
	}
	s.Publish = NewGoFunction(s.Stack, "PublishFunction", GoFunctionProps{
		ModuleRoot:   moduleRoot,
		Name:         contract.FunctionPublish,
		Description:  "Serves the publish HTTP API: channel messages, user notices and disconnects from backends",
		MemoryMB:     cfg.MemoryMB,
		Timeout:      cfg.Timeout,
		Tracing:      cfg.Tracing,
		LogRetention: retention,
		Retain:       cfg.Retain,
		Environment:  map[string]string{contract.EnvLogLevel: "info", contract.EnvPublishNames: names},
	})
	// The same settings as the chat function: a published message follows
	// the same send path and limits.
	for _, v := range []string{contract.EnvTableName, contract.EnvCallbackURL, contract.EnvHistoryRetention,
		contract.EnvRatePerSecond, contract.EnvRateBurst, contract.EnvMaxChannels, contract.EnvFanoutWorkers,
		contract.EnvSendBudget, contract.EnvPresenceMaxMembers, contract.EnvMetricsNamespace, contract.EnvChannelRate} {
		s.Publish.Function.AddEnvironment(jsii.String(v), s.runtimeEnv[v], nil)
	}
	s.PublishAPI = NewPublishAPI(s.Stack, "Publish", PublishAPIProps{
		StageName:     cfg.StageName,
		ThrottleRate:  cfg.PublishThrottleRate,
		ThrottleBurst: cfg.PublishThrottleBurst,
		LogRetention:  retention,
		Retain:        cfg.Retain,
		Function:      s.Publish.Function,
	})
	s.Table.Grant(s.Publish.Role, *jsii.Strings("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
		"dynamodb:DeleteItem", "dynamodb:Query")...)
	GrantManageConnections(s.API, s.Publish.Role, "POST", "DELETE")
	return nil
}

// addPublishNagSuppressions records the accepted findings on the publish
// function, for the same reasons as on the other functions.
func addPublishNagSuppressions(s *ChatStack) {
	suppressConnectionsGrant(s.Publish, "POST and DELETE", "(POST|DELETE)")
	suppressFunction(s, s.Publish, syncInvokeDLQReason)
}
