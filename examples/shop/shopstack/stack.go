// Package shopstack is a team's own stack that embeds wschat's real-time
// layer: its orders API and function sit next to the chat in one stack,
// and the orders function publishes to the chat with a grant, not a
// shared secret.
package shopstack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/wschat/wschat/wschatcdk"
)

// OrdersPackage is the orders function's Go main package.
const OrdersPackage = "example.com/shop/orders"

// OrdersStage is the orders API's stage: not the chat's, so the two HTTP
// APIs have URLs of their own on the local emulator too.
const OrdersStage = "v1"

// Stack is the shop's stack.
type Stack struct {
	awscdk.Stack
	Chat      wschatcdk.Chat
	Orders    awslambda.Function
	OrdersAPI awsapigatewayv2.HttpApi
}

// New defines the shop's stack: the chat layer, the orders function and
// the orders API in front of it.
func New(scope constructs.Construct, id string, props *awscdk.StackProps) *Stack {
	stack := awscdk.NewStack(scope, jsii.String(id), props)
	s := &Stack{Stack: stack}
	s.Chat = wschatcdk.NewChat(stack, jsii.String("Chat"), &wschatcdk.ChatProps{
		StageName: "shop",
		// Every signed-in customer may read the orders channel; only the
		// orders function (through the publish API) writes to it.
		DefaultChannels: "orders=r",
	})
	s.Orders = newOrdersFunction(stack)
	// The one grant the function needs: it may call the three publish
	// routes of this chat's stage, nothing else of it.
	s.Chat.GrantPublish(s.Orders)
	s.Orders.AddEnvironment(jsii.String("SHOP_PUBLISH_URL"), s.Chat.PublishURL(), nil)
	s.OrdersAPI = newOrdersAPI(stack, s.Orders)

	awscdk.NewCfnOutput(stack, jsii.String("WebSocketURL"), &awscdk.CfnOutputProps{Value: s.Chat.WebSocketURL()})
	awscdk.NewCfnOutput(stack, jsii.String("OrdersURL"), &awscdk.CfnOutputProps{
		Value: awscdk.Fn_Join(jsii.String(""), &[]*string{s.OrdersAPI.ApiEndpoint(), jsii.String("/" + OrdersStage + "/orders")}),
	})
	return s
}

// newOrdersFunction is the orders function, built from its Go package by
// wschatcdk.GoCode, with its own role and log group.
func newOrdersFunction(stack awscdk.Stack) awslambda.Function {
	logs := awslogs.NewLogGroup(stack, jsii.String("OrdersLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(stack, jsii.String("OrdersRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	logs.GrantWrite(role)
	fn := awslambda.NewFunction(stack, jsii.String("Orders"), &awslambda.FunctionProps{
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          wschatcdk.GoCode(OrdersPackage, ""),
		MemorySize:    jsii.Number(256),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(10)),
		LoggingFormat: awslambda.LoggingFormat_JSON,
		LogGroup:      logs,
		Role:          role,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(fn, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("Serverless-LambdaDLQ"), Reason: jsii.String("API Gateway invokes the orders function synchronously and returns its error to the caller; a DLQ only receives failed asynchronous invocations.")},
		{Id: jsii.String("Serverless-LambdaTracing"), Reason: jsii.String("The example keeps X-Ray off; a production shop would turn tracing on and accept X-Ray's Resource '*'.")},
	}, jsii.Bool(false))
	return fn
}

// newOrdersAPI is POST /orders, IAM-authorized, on stage v1 with
// throttling and JSON access logs.
func newOrdersAPI(stack awscdk.Stack, orders awslambda.Function) awsapigatewayv2.HttpApi {
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("OrdersApi"), &awsapigatewayv2.HttpApiProps{
		CreateDefaultStage: jsii.Bool(false),
		DefaultAuthorizer:  awsapigatewayv2authorizers.NewHttpIamAuthorizer(),
	})
	api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/orders"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_POST},
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Orders"), orders, nil),
	})
	accessLogs := awslogs.NewLogGroup(stack, jsii.String("OrdersApiLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	stage := awsapigatewayv2.NewHttpStage(stack, jsii.String("OrdersStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String(OrdersStage),
		AutoDeploy: jsii.Bool(true),
		Throttle:   &awsapigatewayv2.ThrottleSettings{RateLimit: jsii.Number(20), BurstLimit: jsii.Number(40)},
	})
	stage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format:         jsii.String(`{"requestId":"$context.requestId","routeKey":"$context.routeKey","status":"$context.status","caller":"$context.identity.userArn"}`),
	})
	return api
}

// AddNagChecks runs the cdk-nag AwsSolutions and Serverless packs over scope.
func AddNagChecks(scope constructs.Construct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	awscdk.Aspects_Of(scope).Add(cdknag.NewServerlessChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
