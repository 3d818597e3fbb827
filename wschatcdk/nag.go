package wschatcdk

import (
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/wschat/wschat/internal/contract"
)

// suppression is one accepted cdk-nag finding. appliesTo, when set, is a
// regular expression over the finding's subject (for IAM5, the resource or
// action with the wildcard): only that subject is accepted, not the rule.
type suppression struct {
	id, reason string
	appliesTo  string
}

// suppress accepts findings on one resource only (never its children).
func suppress(c constructs.IConstruct, sups ...suppression) {
	list := make([]*cdknag.NagPackSuppression, len(sups))
	for i, s := range sups {
		list[i] = &cdknag.NagPackSuppression{Id: jsii.String(s.id), Reason: jsii.String(s.reason)}
		if s.appliesTo != "" {
			list[i].AppliesTo = &[]interface{}{&cdknag.RegexAppliesTo{Regex: jsii.String(s.appliesTo)}}
		}
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &list, jsii.Bool(false))
}

// defaultChild is the CloudFormation resource a construct wraps, where
// cdk-nag reports its findings.
func defaultChild(c constructs.IConstruct) constructs.IConstruct {
	return c.Node().DefaultChild()
}

// syncInvokeDLQReason is why a function that API Gateway invokes has no
// dead-letter queue.
const syncInvokeDLQReason = "API Gateway invokes this function synchronously and gets its error back; a dead-letter queue only receives failed asynchronous invocations, which never happen here."

// defaultPolicy is the CloudFormation policy of f's role.
func defaultPolicy(f *goFunction) constructs.IConstruct {
	return defaultChild(f.Role.Node().FindChild(jsii.String("DefaultPolicy")))
}

// suppressConnectionsGrant accepts the wildcard of f's execute-api:
// ManageConnections grant, scoped to methods (a regex group such as
// "(POST|DELETE)") on this API and stage; said names them for the reason.
func suppressConnectionsGrant(s *layer, f *goFunction, said, methods string) {
	suppress(defaultPolicy(f), suppression{
		id:        "AwsSolutions-IAM5",
		reason:    "execute-api:ManageConnections is scoped to " + said + " on this API and stage; the connection id in the ARN is a run-time value.",
		appliesTo: `/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):execute-api:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):<` + s.API.logicalID() + `>\/[A-Za-z0-9_-]+\/` + methods + `\/@connections\/\*$/`,
	})
}

// suppressFunction accepts the findings every Go function of the stack
// has: no function dead-letter queue (dlqReason says why), and, with
// tracing on, X-Ray's Resource '*' in its policy, or with tracing off, no
// tracing.
func suppressFunction(s *layer, f *goFunction, dlqReason string) {
	sups := []suppression{{id: "Serverless-LambdaDLQ", reason: dlqReason}}
	if s.Config.Tracing {
		suppress(defaultPolicy(f), suppression{
			id:        "AwsSolutions-IAM5",
			reason:    "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions; AWS requires Resource '*'.",
			appliesTo: `/^Resource::\*$/`,
		})
	} else {
		sups = append(sups, suppression{
			id:     "Serverless-LambdaTracing",
			reason: "X-Ray tracing is switched off by this environment's configuration (Config.Tracing) to save cost; staging and prod turn it on.",
		})
	}
	suppress(defaultChild(f.Function), sups...)
}

// addNagSuppressions records, next to the resources they concern, the
// findings we accept and why. Each is as narrow as cdk-nag allows.
func addNagSuppressions(s *layer) {
	// API Gateway accepts an authorizer on $connect only; every other route
	// is reachable only over a connection that $connect authorized.
	for _, route := range s.API.Routes {
		if *route.Node().Id() == contract.RouteConnect+"-Route" {
			continue
		}
		suppress(defaultChild(route), suppression{
			id:     "AwsSolutions-APIG4",
			reason: "WebSocket APIs allow an authorizer only on $connect; this route runs only on a connection that the $connect authorizer allowed.",
		})
	}

	// Connection ids are only known at run time; the grant is already limited
	// to POST on this API's stage.
	for _, f := range []*goFunction{s.Chat, s.Disconnect, s.Connect} {
		suppressConnectionsGrant(s, f, "POST and DELETE (chat), POST (disconnect) or DELETE (connect)", "(POST|DELETE)")
	}
	for _, f := range []*goFunction{s.Connect, s.Disconnect, s.Chat, s.Authorizer} {
		suppressFunction(s, f, syncInvokeDLQReason)
	}

	if !s.Config.PointInTimeRecovery {
		suppress(defaultChild(s.Table), suppression{
			id:     "AwsSolutions-DDB3",
			reason: "Point-in-time recovery is off in this non-production environment by configuration: its connections expire within hours and its history is test data. Prod turns it on (asserted in tests).",
		})
	}

	if s.UserPool != nil {
		suppress(defaultChild(s.UserPool.Pool),
			suppression{
				id:     "AwsSolutions-COG2",
				reason: "MFA is optional (TOTP) in the stack-owned pool used for development and tests; production points at the organisation's own issuer, which owns its MFA policy.",
			},
			suppression{
				id:     "AwsSolutions-COG8",
				reason: "The Plus feature plan (threat protection) is billed per active user; the stack-owned pool serves development and tests, while production uses the organisation's own issuer.",
			})
	}
}
