package wschatcdk

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// chatAPIProps wires the WebSocket API to its functions.
type chatAPIProps struct {
	StageName     string
	ThrottleRate  float64
	ThrottleBurst int
	// QuietRouteRate and QuietRouteBurst throttle the ping and $default
	// routes on their own (0: the stage's default applies to them too).
	QuietRouteRate  float64
	QuietRouteBurst int
	LogRetention    awslogs.RetentionDays
	Retain          bool

	Connect, Disconnect, Chat, Authorizer awslambda.IFunction
}

// chatAPI is the WebSocket API, its routes and its one stage.
type chatAPI struct {
	constructs.Construct
	API       awsapigatewayv2.WebSocketApi
	Stage     awsapigatewayv2.WebSocketStage
	AccessLog awslogs.LogGroup
	// Routes are the route constructs, $connect included.
	Routes []constructs.IConstruct
}

// newChatAPI defines the API: $connect (behind the authorizer), $disconnect,
// $default and one route per protocol action, all actions served by the chat
// function so warm instances are shared across actions.
func newChatAPI(scope constructs.Construct, id string, props chatAPIProps) *chatAPI {
	c := constructs.NewConstruct(scope, jsii.String(id))

	authorizer := awsapigatewayv2authorizers.NewWebSocketLambdaAuthorizer(jsii.String("Authorizer"), props.Authorizer,
		&awsapigatewayv2authorizers.WebSocketLambdaAuthorizerProps{
			// No identity source, on purpose. API Gateway answers 401 without
			// calling the authorizer when any listed source is absent, and the
			// token may come in either the token query parameter or
			// Sec-WebSocket-Protocol, so listing either breaks the other (CDK's
			// default, the Authorization header, breaks browsers, which cannot
			// set it). With no identity source nothing can be cached either, so
			// one user's decision can never be served to another.
			IdentitySource: &[]*string{},
		})

	chat := awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String("ChatIntegration"), props.Chat, nil)
	api := awsapigatewayv2.NewWebSocketApi(c, jsii.String("Api"), &awsapigatewayv2.WebSocketApiProps{
		Description:              jsii.String("wschat WebSocket API"),
		RouteSelectionExpression: jsii.String(contract.RouteSelectionExpression),
		ConnectRouteOptions: &awsapigatewayv2.WebSocketRouteOptions{
			Integration: awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String("ConnectIntegration"), props.Connect, nil),
			Authorizer:  authorizer,
		},
		DisconnectRouteOptions: &awsapigatewayv2.WebSocketRouteOptions{
			Integration: awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String("DisconnectIntegration"), props.Disconnect, nil),
		},
		DefaultRouteOptions: &awsapigatewayv2.WebSocketRouteOptions{Integration: chat},
	})
	for _, action := range contract.Actions {
		if action == contract.ActionPing {
			addPingRoute(api)
			continue
		}
		api.AddRoute(jsii.String(action), &awsapigatewayv2.WebSocketRouteOptions{Integration: chat})
	}

	accessLog := awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: removalPolicy(props.Retain),
	})

	stage := awsapigatewayv2.NewWebSocketStage(c, jsii.String("Stage"), &awsapigatewayv2.WebSocketStageProps{
		WebSocketApi: api,
		StageName:    jsii.String(props.StageName),
		AutoDeploy:   jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(props.ThrottleRate),
			BurstLimit: jsii.Number(float64(props.ThrottleBurst)),
		},
	})
	cfnStage := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLog.LogGroupArn(),
		Format:         jsii.String(accessLogFormat()),
	})

	var routes []constructs.IConstruct
	for _, child := range *api.Node().Children() {
		if strings.HasSuffix(*child.Node().Id(), "-Route") {
			routes = append(routes, child)
		}
	}
	quietRoutes(cfnStage, props, routes)
	return &chatAPI{Construct: c, API: api, Stage: stage, AccessLog: accessLog, Routes: routes}
}

// logicalID is the API's logical id in its stack, as the policies that
// name the API refer to it.
func (a *chatAPI) logicalID() string {
	return *awscdk.Stack_Of(a.Construct).GetLogicalId(a.API.Node().DefaultChild().(awscdk.CfnElement))
}

// addPingRoute has API Gateway answer ping itself: a MOCK integration
// (its request template selects status 200), an integration response whose
// template is the pong, and a $default route response that sends it back.
// A heartbeat then costs two API Gateway messages and no Lambda invocation
// or @connections call, so the SDKs can afford one every 18 seconds
// (docs/client.md, "Liveness"). Nothing validates the frame: any
// {"action":"ping",...} gets a pong.
func addPingRoute(api awsapigatewayv2.WebSocketApi) {
	route := api.AddRoute(jsii.String(contract.ActionPing), &awsapigatewayv2.WebSocketRouteOptions{
		Integration: awsapigatewayv2integrations.NewWebSocketMockIntegration(jsii.String("PingIntegration"),
			&awsapigatewayv2integrations.WebSocketMockIntegrationProps{
				RequestTemplates:            &map[string]*string{contract.TemplateKeyDefault: jsii.String(contract.MockOKTemplate)},
				TemplateSelectionExpression: jsii.String(contract.TemplateSelectDefault),
			}),
		ReturnResponse: jsii.Bool(true),
	})
	// The L2 route has no integration responses: add the pong to the
	// integration it made (a child of the route, under the id given above).
	integration := route.Node().FindChild(jsii.String("PingIntegration")).Node().DefaultChild().(awsapigatewayv2.CfnIntegration)
	awsapigatewayv2.NewCfnIntegrationResponse(route, jsii.String("Pong"), &awsapigatewayv2.CfnIntegrationResponseProps{
		ApiId:                       api.ApiId(),
		IntegrationId:               integration.Ref(),
		IntegrationResponseKey:      jsii.String(contract.TemplateKeyDefault),
		TemplateSelectionExpression: jsii.String(contract.TemplateSelectDefault),
		ResponseTemplates:           map[string]string{contract.TemplateKeyDefault: contract.PongTemplate},
	})
}

// quietRoutes gives ping and $default route settings of their own: every
// frame of those routes is a Lambda invocation that does no chat work, so a
// flood of them is capped below the stage's rate, in a bucket of their own
// that the routes which do work (send, join, ...) never share (API Gateway
// keeps a bucket per route). The stage depends on the routes, since route
// settings may only name routes that exist.
func quietRoutes(stage awsapigatewayv2.CfnStage, props chatAPIProps, routes []constructs.IConstruct) {
	if props.QuietRouteRate <= 0 {
		return
	}
	settings := map[string]any{}
	for _, key := range []string{contract.ActionPing, contract.RouteDefault} {
		settings[key] = map[string]any{
			"ThrottlingRateLimit":  props.QuietRouteRate,
			"ThrottlingBurstLimit": props.QuietRouteBurst,
		}
	}
	stage.SetRouteSettings(settings)
	for _, r := range routes {
		stage.Node().AddDependency(r)
	}
}

// GrantDeleteConnections lets grantee close this stage's connections
// (DELETE @connections/{id}), and nothing else: the chat function closes a
// connection that keeps exceeding its limits.
func (a *chatAPI) GrantDeleteConnections(grantee awsiam.IGrantable) {
	a.grantConnections(grantee, "DELETE")
}

// GrantPostToConnections lets grantee push frames to this stage's
// connections, and nothing else: POST only (no GET or DELETE), this API and
// stage only. The connection id is a runtime value, hence the trailing '*'.
func (a *chatAPI) GrantPostToConnections(grantee awsiam.IGrantable) {
	a.grantConnections(grantee, "POST")
}

func (a *chatAPI) grantConnections(grantee awsiam.IGrantable, method string) {
	grantManageConnections(a.Construct, a.API.ApiId(), a.Stage.StageName(), grantee, method)
}

// grantManageConnections lets grantee call @connections with each of
// methods (POST, GET, DELETE, or * for all) on one stage of one API: the
// connection id is a run-time value, hence the trailing '*'.
func grantManageConnections(scope constructs.IConstruct, apiID, stage *string, grantee awsiam.IGrantable, methods ...string) awsiam.Grant {
	var arns []*string
	for _, m := range methods {
		arns = append(arns, awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("execute-api"),
			Resource:     apiID,
			ResourceName: jsii.String(*stage + "/" + m + "/@connections/*"),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:ManageConnections"),
		ResourceArns: &arns,
	})
}

// accessLogFormat is one JSON object per request. It names the connection,
// route and outcome; it never includes the body or the query string (where
// a token may travel). Left out since issue #23 (CloudWatch Logs bills each
// byte, and this line is written for every frame a client sends):
// extendedRequestId, API Gateway's own id of the request, which requestId
// already names to the functions (their apiRequestId) and to AWS support,
// and eventType, which routeKey says ($connect, $disconnect or an action).
func accessLogFormat() string {
	fields := map[string]string{
		"requestId":          "$context.requestId",
		"connectionId":       "$context.connectionId",
		"routeKey":           "$context.routeKey",
		"status":             "$context.status",
		"requestTime":        "$context.requestTimeEpoch",
		"sourceIp":           "$context.identity.sourceIp",
		"integrationStatus":  "$context.integrationStatus",
		"integrationLatency": "$context.integrationLatency",
		"integrationError":   "$context.integrationErrorMessage",
		"authorizerError":    "$context.authorizer.error",
		"error":              "$context.error.message",
	}
	// Sorted keys keep the template stable; a map of strings cannot fail to marshal.
	b, _ := json.Marshal(fields)
	return string(b)
}

// MapDomain serves the stage on a custom domain (wss://name). Handlers keep
// posting to the execute-api callback URL: @connections is not served on
// custom domains, and posting through one is a classic way to get 403s.
func (a *chatAPI) MapDomain(name, certificateARN string) awsapigatewayv2.DomainName {
	domain := awsapigatewayv2.NewDomainName(a.Construct, jsii.String("Domain"), &awsapigatewayv2.DomainNameProps{
		DomainName:  jsii.String(name),
		Certificate: awscertificatemanager.Certificate_FromCertificateArn(a.Construct, jsii.String("Certificate"), jsii.String(certificateARN)),
	})
	awsapigatewayv2.NewApiMapping(a.Construct, jsii.String("DomainMapping"), &awsapigatewayv2.ApiMappingProps{
		Api:        a.API,
		DomainName: domain,
		Stage:      a.Stage,
	})
	return domain
}
