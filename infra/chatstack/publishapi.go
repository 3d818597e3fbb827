package chatstack

import (
	"encoding/json"
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

// PublishAPIProps configures the publish HTTP API.
type PublishAPIProps struct {
	StageName     string
	ThrottleRate  float64
	ThrottleBurst int
	LogRetention  awslogs.RetentionDays
	Retain        bool
	// Function serves every route (the publish function).
	Function awslambda.IFunction
}

// PublishAPI is the HTTP API through which backends publish: the routes of
// contract.PublishRoutes, each AWS_IAM (a caller signs with its own IAM
// identity, no shared secret), and one stage with throttling and access logs.
type PublishAPI struct {
	constructs.Construct
	API       awsapigatewayv2.HttpApi
	Stage     awsapigatewayv2.HttpStage
	AccessLog awslogs.LogGroup
	Routes    []awsapigatewayv2.HttpRoute
}

// NewPublishAPI defines the API. There is no $default stage and no
// catch-all route: an unknown route is API Gateway's own 404, before any
// invocation.
func NewPublishAPI(scope constructs.Construct, id string, props PublishAPIProps) *PublishAPI {
	c := constructs.NewConstruct(scope, jsii.String(id))
	api := awsapigatewayv2.NewHttpApi(c, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		Description:        jsii.String("wschat publish API: backends post to channels and users with SigV4 (IAM)"),
		CreateDefaultStage: jsii.Bool(false),
		DefaultAuthorizer:  awsapigatewayv2authorizers.NewHttpIamAuthorizer(),
	})
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("PublishIntegration"), props.Function, nil)
	p := &PublishAPI{Construct: c, API: api}
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
func (p *PublishAPI) URL() *string { return p.Stage.Url() }

// routeARNs are the execute-api ARNs of the routes keys on this API and
// stage; a path parameter matches one segment, hence '*'.
func (p *PublishAPI) routeARNs(keys []string) []*string {
	var arns []*string
	for _, key := range keys {
		method, path, _ := strings.Cut(key, " ")
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				segs[i] = "*"
			}
		}
		arns = append(arns, awscdk.Stack_Of(p.Construct).FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("execute-api"),
			Resource:     p.API.ApiId(),
			ResourceName: jsii.String(*p.Stage.StageName() + "/" + method + strings.Join(segs, "/")),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	return arns
}

// GrantPublish lets grantee (a backend's role) call every route of this API
// on this stage, and nothing else: execute-api:Invoke on exactly these
// routes' ARNs.
func (p *PublishAPI) GrantPublish(grantee awsiam.IGrantable) awsiam.Grant {
	arns := p.routeARNs(contract.PublishRoutes)
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:Invoke"),
		ResourceArns: &arns,
	})
}

// GrantManageAccess lets grantee (an administrative backend's role) manage
// who may use what: create private channels, add, remove and list their
// members, revoke a user's tokens: execute-api:Invoke on exactly
// contract.AccessRoutes of this API and stage. It is separate from
// GrantPublish: a service that posts messages need not decide membership.
func (p *PublishAPI) GrantManageAccess(grantee awsiam.IGrantable) awsiam.Grant {
	arns := p.routeARNs(contract.AccessRoutes)
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:Invoke"),
		ResourceArns: &arns,
	})
}

// GrantManageConnections lets grantee call @connections with each of
// methods (POST, DELETE) on api's stage: the publish function notifies and
// closes connections, so it needs DELETE, which the chat function never gets.
func GrantManageConnections(api *ChatAPI, grantee awsiam.IGrantable, methods ...string) {
	var arns []*string
	for _, m := range methods {
		arns = append(arns, awscdk.Stack_Of(api.Construct).FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("execute-api"),
			Resource:     api.API.ApiId(),
			ResourceName: jsii.String(*api.Stage.StageName() + "/" + m + "/@connections/*"),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:ManageConnections"),
		ResourceArns: &arns,
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
