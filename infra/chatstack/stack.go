// Package chatstack defines the wschat CloudFormation stack: the WebSocket
// API, its functions, the table, identity, and every IAM grant between them.
// It is the only code besides infra/main.go that imports the CDK.
package chatstack

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"wschat/internal/contract"
)

// StackProps are the inputs of one environment's stack.
type StackProps struct {
	Config Config
	// ModuleRoot is the directory holding go.mod, where lambdas/ is built from.
	ModuleRoot string
}

// ChatStack is one environment's stack with typed handles for tests.
type ChatStack struct {
	awscdk.Stack
	Config     Config
	Table      awsdynamodb.Table
	API        *ChatAPI
	UserPool   *UserPool // nil when the environment uses an existing issuer
	Connect    *GoFunction
	Disconnect *GoFunction
	Chat       *GoFunction
	Authorizer *GoFunction
	Monitoring *Monitoring
	// Domain is the custom domain, nil unless configured.
	Domain awsapigatewayv2.DomainName
}

// StackName is the CloudFormation stack name of an environment.
func StackName(env string) string { return "WsChat-" + env }

// NewChatStack validates cfg and defines the stack in app.
func NewChatStack(scope constructs.Construct, props StackProps) (*ChatStack, error) {
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if props.ModuleRoot == "" {
		return nil, fmt.Errorf("stack %s: module root is empty", StackName(cfg.Name))
	}
	retention, _ := retentionDays(cfg.LogRetention) // checked by Validate

	var env *awscdk.Environment
	if cfg.Account != "" || cfg.Region != "" {
		env = &awscdk.Environment{}
		if cfg.Account != "" {
			env.Account = jsii.String(cfg.Account)
		}
		if cfg.Region != "" {
			env.Region = jsii.String(cfg.Region)
		}
	}
	stack := awscdk.NewStack(scope, jsii.String(StackName(cfg.Name)), &awscdk.StackProps{
		Env:         env,
		Description: jsii.String(fmt.Sprintf("wschat real-time WebSocket chat (%s)", cfg.Name)),
		Tags:        &map[string]*string{"project": jsii.String("wschat"), "environment": jsii.String(cfg.Name)},
	})
	s := &ChatStack{Stack: stack, Config: cfg}

	s.Table = NewTable(stack, TableProps{Retain: cfg.Retain, PointInTimeRecovery: cfg.PointInTimeRecovery})

	fn := func(id, name, description string, extra map[string]string) *GoFunction {
		env := map[string]string{contract.EnvLogLevel: "info"}
		for k, v := range extra {
			env[k] = v
		}
		return NewGoFunction(stack, id, GoFunctionProps{
			ModuleRoot:   props.ModuleRoot,
			Name:         name,
			Description:  description,
			MemoryMB:     cfg.MemoryMB,
			Timeout:      cfg.Timeout,
			Tracing:      cfg.Tracing,
			LogRetention: retention,
			Retain:       cfg.Retain,
			Environment:  env,
		})
	}

	authEnv := map[string]string{contract.EnvAuthTokenUse: cfg.Auth.TokenUse}
	if cfg.Auth.CreateUserPool {
		s.UserPool = NewUserPool(stack, "Identity", cfg.Retain)
		authEnv[contract.EnvAuthIssuer] = s.UserPool.Issuer()
		authEnv[contract.EnvAuthAudiences] = *s.UserPool.Client.UserPoolClientId()
	} else {
		authEnv[contract.EnvAuthIssuer] = cfg.Auth.Issuer
		authEnv[contract.EnvAuthAudiences] = strings.Join(cfg.Auth.Audiences, ",")
		if cfg.Auth.JWKSURL != "" {
			authEnv[contract.EnvAuthJWKSURL] = cfg.Auth.JWKSURL
		}
	}
	// The authorizer only verifies tokens against the issuer's public keys:
	// it gets no table and no @connections access.
	s.Authorizer = fn("AuthorizerFunction", contract.FunctionAuthorizer, "Verifies the JWT on $connect", authEnv)

	// The runtime functions are created before the API (the API needs them
	// as integrations), so their table and callback settings are added below.
	s.Connect = fn("ConnectFunction", contract.FunctionConnect, "Registers a connection on $connect", nil)
	s.Disconnect = fn("DisconnectFunction", contract.FunctionDisconnect, "Removes a connection and its memberships on $disconnect", nil)
	s.Chat = fn("ChatFunction", contract.FunctionChat, "Serves every chat action and $default", nil)

	s.API = NewChatAPI(stack, "WebSocket", ChatAPIProps{
		StageName:     cfg.StageName,
		ThrottleRate:  cfg.ThrottleRate,
		ThrottleBurst: cfg.ThrottleBurst,
		LogRetention:  retention,
		Retain:        cfg.Retain,
		Connect:       s.Connect.Function,
		Disconnect:    s.Disconnect.Function,
		Chat:          s.Chat.Function,
		Authorizer:    s.Authorizer.Function,
	})

	runtimeEnv := map[string]string{
		contract.EnvTableName:        *s.Table.TableName(),
		contract.EnvCallbackURL:      *s.API.Stage.CallbackUrl(),
		contract.EnvHistoryRetention: cfg.HistoryRetention.String(),
		contract.EnvRatePerSecond:    strconv.FormatFloat(cfg.RatePerSecond, 'f', -1, 64),
		contract.EnvRateBurst:        strconv.Itoa(cfg.RateBurst),
		contract.EnvMaxChannels:      strconv.Itoa(cfg.MaxChannels),
		contract.EnvFanoutWorkers:    strconv.Itoa(cfg.FanoutWorkers),
		contract.EnvSendBudget:       strconv.Itoa(cfg.SendBudget),
		contract.EnvMetricsNamespace: MetricsNamespace(cfg.Name),
	}
	for _, f := range []*GoFunction{s.Connect, s.Disconnect, s.Chat} {
		for k, v := range runtimeEnv {
			f.Function.AddEnvironment(jsii.String(k), jsii.String(v), nil)
		}
	}

	grantTable(s)

	s.Monitoring = NewMonitoring(stack, "Monitoring", MonitoringProps{
		Env:        cfg.Name,
		AlarmEmail: cfg.AlarmEmail,
		Functions: map[string]*GoFunction{
			contract.FunctionAuthorizer: s.Authorizer, contract.FunctionConnect: s.Connect,
			contract.FunctionDisconnect: s.Disconnect, contract.FunctionChat: s.Chat,
		},
		API:   s.API,
		Table: s.Table,
	})

	if cfg.Domain != nil {
		s.Domain = s.API.MapDomain(cfg.Domain.Name, cfg.Domain.CertificateARN)
		awscdk.NewCfnOutput(stack, jsii.String("CustomDomainURL"), &awscdk.CfnOutputProps{
			Value:       jsii.String("wss://" + cfg.Domain.Name),
			Description: jsii.String("Clients may connect here; handlers still post to CallbackURL"),
		})
		awscdk.NewCfnOutput(stack, jsii.String("CustomDomainTarget"), &awscdk.CfnOutputProps{
			Value:       s.Domain.RegionalDomainName(),
			Description: jsii.String("Point the domain's DNS (CNAME or alias) here"),
		})
	}

	awscdk.NewCfnOutput(stack, jsii.String("WebSocketURL"), &awscdk.CfnOutputProps{
		Value: s.API.Stage.Url(), Description: jsii.String("Clients connect here (wss://)"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("CallbackURL"), &awscdk.CfnOutputProps{
		Value: s.API.Stage.CallbackUrl(), Description: jsii.String("The @connections management endpoint the handlers post to"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("TableName"), &awscdk.CfnOutputProps{
		Value: s.Table.TableName(), Description: jsii.String("The chat table"),
	})
	if s.UserPool != nil {
		awscdk.NewCfnOutput(stack, jsii.String("UserPoolId"), &awscdk.CfnOutputProps{Value: s.UserPool.Pool.UserPoolId()})
		awscdk.NewCfnOutput(stack, jsii.String("UserPoolClientId"), &awscdk.CfnOutputProps{Value: s.UserPool.Client.UserPoolClientId()})
	}

	addNagSuppressions(s)
	return s, nil
}

// grantTable gives each function exactly the table actions its code calls
// (see internal/dynamo) and @connections POST to those that push frames.
func grantTable(s *ChatStack) {
	grant := func(f *GoFunction, actions ...string) {
		s.Table.Grant(f.Role, *jsii.Strings(actions...)...)
	}
	// $connect writes the connection item.
	grant(s.Connect, "dynamodb:PutItem")
	// $disconnect reads the connection's channels, deletes it and its
	// memberships, and tells the channels who left (reading their members).
	grant(s.Disconnect, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:DeleteItem")
	s.API.GrantPostToConnections(s.Disconnect.Role)
	// Chat actions read and write every item kind.
	grant(s.Chat, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query")
	s.API.GrantPostToConnections(s.Chat.Role)
}
