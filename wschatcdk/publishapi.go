package wschatcdk

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// publishAPIProps configures the publish HTTP API.
type publishAPIProps struct {
	StageName     string
	ThrottleRate  float64
	ThrottleBurst int
	LogRetention  awslogs.RetentionDays
	Retain        bool
	// Function serves every route (the publish function).
	Function awslambda.IFunction
}

// publishAPI is the HTTP API through which backends publish: the routes of
// contract.PublishRoutes, each AWS_IAM (a caller signs with its own IAM
// identity, no shared secret), and one stage with throttling and access logs.
type publishAPI struct {
	constructs.Construct
	API       awsapigatewayv2.HttpApi
	Stage     awsapigatewayv2.HttpStage
	AccessLog awslogs.LogGroup
	Routes    []awsapigatewayv2.HttpRoute
}

// newPublishAPI defines the API. There is no $default stage and no
// catch-all route: an unknown route is API Gateway's own 404, before any
// invocation.
func newPublishAPI(scope constructs.Construct, id string, props publishAPIProps) *publishAPI {
	c := constructs.NewConstruct(scope, jsii.String(id))
	api := awsapigatewayv2.NewHttpApi(c, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		Description:        jsii.String("wschat publish API: backends post to channels and users with SigV4 (IAM)"),
		CreateDefaultStage: jsii.Bool(false),
		DefaultAuthorizer:  awsapigatewayv2authorizers.NewHttpIamAuthorizer(),
	})
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("PublishIntegration"), props.Function, nil)
	p := &publishAPI{Construct: c, API: api}
	for _, key := range append(slices.Clone(contract.PublishRoutes), contract.AccessRoutes...) {
		method, path, _ := strings.Cut(key, " ")
		routes := api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(method)},
			Integration: integration,
		})
		p.Routes = append(p.Routes, *routes...)
	}
	p.AccessLog = awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: removalPolicy(props.Retain),
	})
	p.Stage = awsapigatewayv2.NewHttpStage(c, jsii.String("Stage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String(props.StageName),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(props.ThrottleRate),
			BurstLimit: jsii.Number(float64(props.ThrottleBurst)),
		},
	})
	cfnStage := p.Stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: p.AccessLog.LogGroupArn(),
		Format:         jsii.String(publishAccessLogFormat()),
	})
	return p
}

// URL is the stage's base URL, https://{apiId}.execute-api.{region}.amazonaws.com/{stage}.
func (p *publishAPI) URL() *string { return p.Stage.Url() }

// publishRouteResources are the routes keys as the tail of an execute-api
// ARN after the stage: /METHOD/path, where a path parameter matches one
// segment, hence '*'.
func publishRouteResources(keys []string) []string {
	var out []string
	for _, key := range keys {
		method, path, _ := strings.Cut(key, " ")
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				segs[i] = "*"
			}
		}
		out = append(out, "/"+method+strings.Join(segs, "/"))
	}
	return out
}

// routeARNs are the execute-api ARNs of the routes keys on this API and
// stage.
func (p *publishAPI) routeARNs(keys []string) []*string {
	var arns []*string
	for _, r := range publishRouteResources(keys) {
		arns = append(arns, awscdk.Stack_Of(p.Construct).FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("execute-api"),
			Resource:     p.API.ApiId(),
			ResourceName: jsii.String(*p.Stage.StageName() + r),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	return arns
}

// GrantPublish lets grantee (a backend's role) call every route of this API
// on this stage, and nothing else: execute-api:Invoke on exactly these
// routes' ARNs.
func (p *publishAPI) GrantPublish(grantee awsiam.IGrantable) awsiam.Grant {
	return p.grantRoutes(grantee, contract.PublishRoutes, publishGrantReason)
}

// GrantManageAccess lets grantee (an administrative backend's role) manage
// who may use what: create private channels, add, remove and list their
// members, revoke a user's tokens: execute-api:Invoke on exactly
// contract.AccessRoutes of this API and stage. It is separate from
// GrantPublish: a service that posts messages need not decide membership.
func (p *publishAPI) GrantManageAccess(grantee awsiam.IGrantable) awsiam.Grant {
	return p.grantRoutes(grantee, contract.AccessRoutes, accessGrantReason)
}

// grantRoutes grants execute-api:Invoke on exactly the routes keys of this
// API and stage, and accepts cdk-nag's finding on their wildcards.
func (p *publishAPI) grantRoutes(grantee awsiam.IGrantable, keys []string, reason string) awsiam.Grant {
	arns := p.routeARNs(keys)
	grant := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:Invoke"),
		ResourceArns: &arns,
	})
	api := *awscdk.Stack_Of(p.Construct).GetLogicalId(p.API.Node().DefaultChild().(awscdk.CfnElement))
	suppressPublishGrant(grantee, "<"+api+">", *p.Stage.StageName(), keys, reason)
	return grant
}

// The reasons of the grants' accepted cdk-nag findings.
const (
	publishGrantReason = "wschat's GrantPublish: execute-api:Invoke on the publish API's three message routes of this stage only; " +
		"each '*' is a path parameter (channel, user id), known only at run time."
	accessGrantReason = "wschat's GrantManageAccess: execute-api:Invoke on the publish API's five access routes of this stage only; " +
		"each '*' is a path parameter (channel, user id), known only at run time."
)

// suppressPublishGrant accepts, on the grantee role's policy, cdk-nag's
// finding on the wildcards of a grant of the routes keys, and only on
// those: each '*' stands for a path parameter (a channel, a user id), a
// run-time value. api is how the finding names the API (<LogicalId>, or an
// imported API's id). A grantee that is not a role (a user, an account)
// has no policy of ours to annotate.
func suppressPublishGrant(grantee awsiam.IGrantable, api, stage string, keys []string, reason string) {
	role, ok := grantee.GrantPrincipal().(awsiam.IRole)
	if !ok {
		return
	}
	policy := role.Node().TryFindChild(jsii.String("DefaultPolicy"))
	if policy == nil || policy.Node().DefaultChild() == nil {
		return
	}
	routes := make([]string, 0, len(keys))
	for _, r := range publishRouteResources(keys) {
		routes = append(routes, regexp.QuoteMeta(r))
	}
	suppress(policy.Node().DefaultChild(), suppression{
		id:     "AwsSolutions-IAM5",
		reason: reason,
		appliesTo: `/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):execute-api:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):` +
			regexp.QuoteMeta(api) + `\/` + regexp.QuoteMeta(stage) + `(` + strings.Join(routes, "|") + `)$/`,
	})
}

// publishAccessLogFormat is one JSON object per request: who called (the
// IAM principal), which route, the outcome. Never the body.
func publishAccessLogFormat() string {
	fields := map[string]string{
		"requestId":          "$context.requestId",
		"routeKey":           "$context.routeKey",
		"status":             "$context.status",
		"requestTime":        "$context.requestTimeEpoch",
		"sourceIp":           "$context.identity.sourceIp",
		"caller":             "$context.identity.userArn",
		"responseLength":     "$context.responseLength",
		"integrationStatus":  "$context.integrationStatus",
		"integrationLatency": "$context.integrationLatency",
		"integrationError":   "$context.integrationErrorMessage",
		"error":              "$context.error.message",
	}
	b, _ := json.Marshal(fields)
	return string(b)
}
