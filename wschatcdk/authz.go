package wschatcdk

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// Authorization that keeps up with a live connection (docs/auth.md): the
// chat function verifies renewal tokens as the authorizer does, and the
// expiry function closes connections whose token expired, on a schedule.

// defaultTokenGrace is the authorizer's clock-skew leeway: a token it still
// accepts is not refused by the handlers.
const defaultTokenGrace = 60 * time.Second

// validateAuthz checks the token grace.
func (c ChatProps) validateAuthz() []error {
	var errs []error
	if g := *c.TokenGrace; g < 0 || g > time.Hour || g%time.Second != 0 {
		errs = append(errs, fmt.Errorf("TokenGrace %v: must be whole seconds from 0s to 1h", g))
	}
	return errs
}

// directMessagesValue is the WSCHAT_DIRECT_MESSAGES value of the switch.
func directMessagesValue(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// addAuthz gives the chat function the authorizer's issuer settings, so a
// reauth is verified exactly as a $connect is (same issuer, audiences,
// token use, group mapping; JWKS fetched over outbound HTTPS, no IAM).
func (s *layer) addAuthz() {
	for k, v := range s.authEnv {
		s.Chat.Function.AddEnvironment(jsii.String(k), jsii.String(v), nil)
	}
}

// addExpiry defines the expiry function and the schedule that runs it,
// and grants it exactly what its code calls: the expiry index (Query,
// DeleteItem), its progress item (GetItem, UpdateItem), the connection
// (GetItem) and, for a connection found gone, RemoveConnection's reads and
// deletes and the member count (UpdateItem); @connections POST (the
// token_expired frame) and DELETE (the close).
func (s *layer) addExpiry(retention awslogs.RetentionDays) {
	cfg := s.Config
	s.Expiry = newGoFunction(s.scope, "ExpiryFunction", goFunctionProps{
		Build:        s.build,
		Package:      lambdasPackage + "/" + contract.FunctionExpiry,
		Name:         contract.FunctionExpiry,
		Description:  "Closes connections whose token expired (idle ones included), every minute",
		MemoryMB:     cfg.MemoryMB,
		Timeout:      expiryTimeout,
		Tracing:      cfg.Tracing,
		LogRetention: retention,
		Retain:       cfg.retain(),
		Environment:  map[string]string{contract.EnvLogLevel: "info"},
	})
	for _, v := range []string{contract.EnvTableName, contract.EnvCallbackURL, contract.EnvFanoutWorkers, contract.EnvMetricsNamespace} {
		s.Expiry.Function.AddEnvironment(jsii.String(v), s.runtimeEnv[v], nil)
	}
	s.ExpiryRule = awsevents.NewRule(s.scope, jsii.String("ExpirySchedule"), &awsevents.RuleProps{
		Description: jsii.String("Runs the expiry function: connections whose token expired are closed"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(contract.ExpirySchedule)),
	})
	// A run that fails is made up by the next (it resumes from the last
	// minute it finished): no retries, and events older than a run are
	// worthless.
	s.ExpiryRule.AddTarget(awseventstargets.NewLambdaFunction(s.Expiry.Function, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(0),
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(60)),
	}))
	s.Table.Grant(s.Expiry.Role, *jsii.Strings("dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem")...)
	grantManageConnections(s.API.Construct, s.API.API.ApiId(), s.API.Stage.StageName(), s.Expiry.Role, "POST", "DELETE")
}

// expiryTimeout bounds one run; a run stops 2 s before it and leaves the
// rest to the next.
const expiryTimeout = 50 * time.Second

// addExpiryNagSuppressions records the accepted findings on the expiry
// function.
func addExpiryNagSuppressions(s *layer) {
	suppressConnectionsGrant(s, s.Expiry, "POST and DELETE", "(POST|DELETE)")
	suppressFunction(s, s.Expiry, expiryNoReplay)
	suppress(defaultChild(s.ExpiryRule), suppression{id: "Serverless-EventBusDLQ", reason: expiryNoReplay})
}

// expiryNoReplay is why neither the expiry function nor its schedule has a
// dead-letter queue.
const expiryNoReplay = "EventBridge invokes the expiry function asynchronously once a minute, and a failed run needs no replay: " +
	"the next run resumes from the last minute it finished (kept in the table), so a dead-letter queue would only hold stale ticks."
