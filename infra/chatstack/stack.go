// Package chatstack defines the wschat CloudFormation stack: the WebSocket
// API, its functions, the table, identity, and every IAM grant between them.
// It is the only code besides infra/main.go that imports the CDK.
package chatstack

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
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
	// Publish serves PublishAPI, the HTTP API for backends (docs/publish.md).
	Publish    *GoFunction
	PublishAPI *PublishAPI
	// Fanout consumes FanoutQueue: the broadcasts to channels above
	// Config.FanoutThreshold, one task per shard.
	Fanout        *GoFunction
	FanoutQueue   *FanoutQueue
	FanoutMapping awslambda.EventSourceMapping
	// Expiry closes connections whose token expired, run by ExpiryRule.
	Expiry     *GoFunction
	ExpiryRule awsevents.Rule
	Monitoring *Monitoring
	// Domain is the custom domain, nil unless configured.
	Domain awsapigatewayv2.DomainName
	// runtimeEnv is the environment addRuntimeEnvironment gave the runtime
	// functions, for functions defined after it.
	runtimeEnv map[string]*string
	// authEnv is the authorizer's issuer settings, which the chat function
	// verifies renewals with.
	authEnv map[string]string
}

// StackName is the CloudFormation stack name of an environment.
func StackName(env string) string { return "WsChat-" + env }

// NewChatStack validates cfg and defines the stack in app. It composes the
// constructs in named steps, each of which reads the handles that the steps
// before it filled in: the functions must exist before the API integrates
// them, and the API before the functions can be told its callback URL.
func NewChatStack(scope constructs.Construct, props StackProps) (*ChatStack, error) {
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if props.ModuleRoot == "" {
		return nil, fmt.Errorf("stack %s: module root is empty", StackName(cfg.Name))
	}
	retention, _ := retentionDays(cfg.LogRetention) // checked by Validate

	stack := awscdk.NewStack(scope, jsii.String(StackName(cfg.Name)), &awscdk.StackProps{
		Env:         stackEnvironment(cfg),
		Description: jsii.String(fmt.Sprintf("wschat real-time WebSocket chat (%s)", cfg.Name)),
		Tags:        &map[string]*string{"project": jsii.String("wschat"), "environment": jsii.String(cfg.Name)},
	})
	s := &ChatStack{Stack: stack, Config: cfg}
	s.Table = NewTable(stack, TableConstructID, TableProps{Retain: cfg.Retain, PointInTimeRecovery: cfg.PointInTimeRecovery})
	s.addFunctions(props.ModuleRoot, retention)
	s.addAPI(retention)
	s.addRuntimeEnvironment()
	grantTable(s)
	if err := s.addPublish(props.ModuleRoot, retention); err != nil {
		return nil, err
	}
	s.addFanout(props.ModuleRoot, retention)
	s.addAuthz()
	s.addExpiry(props.ModuleRoot, retention)
	s.addMonitoring()
	s.addOutputs()
	addNagSuppressions(s)
	addPublishNagSuppressions(s)
	addFanoutNagSuppressions(s)
	addExpiryNagSuppressions(s)
	return s, nil
}

// stackEnvironment pins the stack to an account and region only where the
// configuration names them; otherwise the template is environment-agnostic.
func stackEnvironment(cfg Config) *awscdk.Environment {
	if cfg.Account == "" && cfg.Region == "" {
		return nil
	}
	env := &awscdk.Environment{}
	if cfg.Account != "" {
		env.Account = jsii.String(cfg.Account)
	}
	if cfg.Region != "" {
		env.Region = jsii.String(cfg.Region)
	}
	return env
}

// addFunctions defines the four functions with the environment's defaults.
// The runtime functions are created before the API (the API needs them as
// integrations), so their table and callback settings come later, from
// addRuntimeEnvironment.
func (s *ChatStack) addFunctions(moduleRoot string, retention awslogs.RetentionDays) {
	cfg := s.Config
	fn := func(id, name, description string, extra map[string]string) *GoFunction {
		env := map[string]string{contract.EnvLogLevel: "info"}
		for k, v := range extra {
			env[k] = v
		}
		return NewGoFunction(s.Stack, id, GoFunctionProps{
			ModuleRoot:   moduleRoot,
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
	// The authorizer only verifies tokens against the issuer's public keys:
	// it gets no table and no @connections access.
	s.authEnv = s.addIdentity()
	s.Authorizer = fn("AuthorizerFunction", contract.FunctionAuthorizer, "Verifies the JWT on $connect", s.authEnv)
	s.Connect = fn("ConnectFunction", contract.FunctionConnect, "Registers a connection on $connect", nil)
	s.Disconnect = fn("DisconnectFunction", contract.FunctionDisconnect, "Removes a connection and its memberships on $disconnect", nil)
	s.Chat = fn("ChatFunction", contract.FunctionChat, "Serves every chat action and $default", nil)
}

// addIdentity defines the stack's own user pool, with the groups that grant
// channels, when the environment has no issuer of its own, and returns the
// authorizer's environment: whose tokens it accepts and what their groups
// grant.
func (s *ChatStack) addIdentity() map[string]string {
	auth := s.Config.Auth
	env := map[string]string{contract.EnvAuthTokenUse: auth.TokenUse}
	if len(s.Config.GroupChannels) > 0 {
		b, _ := json.Marshal(s.Config.GroupChannels) // a map of strings always marshals
		env[contract.EnvGroupChannels] = string(b)
	}
	// Names only backends show: a user's name that looks like one is
	// marked ("server" always is).
	if names := slices.Sorted(maps.Values(s.Config.PublishNames)); len(names) > 0 {
		b, _ := json.Marshal(slices.Compact(names))
		env[contract.EnvReservedNames] = string(b)
	}
	if auth.CreateUserPool {
		s.UserPool = NewUserPool(s.Stack, "Identity", s.Config.Retain)
		s.UserPool.AddChannelGroups(s.Config.GroupChannels)
		env[contract.EnvAuthIssuer] = s.UserPool.Issuer()
		env[contract.EnvAuthAudiences] = *s.UserPool.Client.UserPoolClientId()
		return env
	}
	env[contract.EnvAuthIssuer] = auth.Issuer
	env[contract.EnvAuthAudiences] = strings.Join(auth.Audiences, ",")
	if auth.JWKSURL != "" {
		env[contract.EnvAuthJWKSURL] = auth.JWKSURL
	}
	return env
}

// addAPI defines the WebSocket API over the functions.
func (s *ChatStack) addAPI(retention awslogs.RetentionDays) {
	cfg := s.Config
	s.API = NewChatAPI(s.Stack, "WebSocket", ChatAPIProps{
		StageName:       cfg.StageName,
		ThrottleRate:    cfg.ThrottleRate,
		QuietRouteRate:  cfg.QuietRouteRate,
		QuietRouteBurst: cfg.QuietRouteBurst,
		ThrottleBurst:   cfg.ThrottleBurst,
		LogRetention:    retention,
		Retain:          cfg.Retain,
		Connect:         s.Connect.Function,
		Disconnect:      s.Disconnect.Function,
		Chat:            s.Chat.Function,
		Authorizer:      s.Authorizer.Function,
	})
}

// addRuntimeEnvironment gives the runtime functions (not the authorizer) the
// table, the @connections endpoint and the environment's limits.
func (s *ChatStack) addRuntimeEnvironment() {
	cfg := s.Config
	env := map[string]string{
		contract.EnvTableName:          *s.Table.TableName(),
		contract.EnvCallbackURL:        *s.API.Stage.CallbackUrl(),
		contract.EnvHistoryRetention:   cfg.HistoryRetention.String(),
		contract.EnvRatePerSecond:      strconv.FormatFloat(cfg.RatePerSecond, 'f', -1, 64),
		contract.EnvRateBurst:          strconv.Itoa(cfg.RateBurst),
		contract.EnvMaxChannels:        strconv.Itoa(cfg.MaxChannels),
		contract.EnvFanoutWorkers:      strconv.Itoa(cfg.FanoutWorkers),
		contract.EnvSendBudget:         strconv.Itoa(cfg.SendBudget),
		contract.EnvPresenceMaxMembers: strconv.Itoa(cfg.PresenceMaxMembers),
		contract.EnvMetricsNamespace:   MetricsNamespace(cfg.Name),

		contract.EnvMaxConnectionsPerUser: strconv.Itoa(cfg.MaxConnectionsPerUser),
		contract.EnvUserRatePerSecond:     strconv.FormatFloat(cfg.UserRatePerSecond, 'f', -1, 64),
		contract.EnvUserRateBurst:         strconv.Itoa(cfg.UserRateBurst),
		contract.EnvFrameRatePerSecond:    strconv.FormatFloat(cfg.FrameRatePerSecond, 'f', -1, 64),
		contract.EnvFrameBurst:            strconv.Itoa(cfg.FrameBurst),
		contract.EnvChannelRate:           strconv.FormatFloat(cfg.ChannelRate, 'f', -1, 64),
		contract.EnvTokenGrace:            cfg.TokenGrace.String(),
		contract.EnvDirectMessages:        directMessagesValue(cfg.DirectMessages),
	}
	// Unset means closed: the handlers' own default grants nothing.
	if cfg.DefaultChannels != "" {
		env[contract.EnvDefaultChannels] = cfg.DefaultChannels
	}
	s.runtimeEnv = map[string]*string{}
	for k, v := range env {
		s.runtimeEnv[k] = jsii.String(v)
	}
	for _, f := range []*GoFunction{s.Connect, s.Disconnect, s.Chat} {
		for k, v := range env {
			f.Function.AddEnvironment(jsii.String(k), jsii.String(v), nil)
		}
	}
}

// addMonitoring defines the alarms and the dashboard over every function,
// the API, the table and the fan-out queues.
func (s *ChatStack) addMonitoring() {
	s.Monitoring = NewMonitoring(s.Stack, "Monitoring", MonitoringProps{
		Env:        s.Config.Name,
		AlarmEmail: s.Config.AlarmEmail,
		Functions: map[string]*GoFunction{
			contract.FunctionAuthorizer: s.Authorizer, contract.FunctionConnect: s.Connect,
			contract.FunctionDisconnect: s.Disconnect, contract.FunctionChat: s.Chat,
			contract.FunctionPublish: s.Publish, contract.FunctionFanout: s.Fanout,
			contract.FunctionExpiry: s.Expiry,
		},
		API:         s.API,
		Table:       s.Table,
		FanoutQueue: s.FanoutQueue,
	})
}

// addOutputs maps the custom domain, if any, and emits what clients and
// operators need: where to connect, the callback endpoint, the table and
// the user pool.
func (s *ChatStack) addOutputs() {
	output := func(id, description string, value *string) {
		props := &awscdk.CfnOutputProps{Value: value}
		if description != "" {
			props.Description = jsii.String(description)
		}
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), props)
	}
	if d := s.Config.Domain; d != nil {
		s.Domain = s.API.MapDomain(d.Name, d.CertificateARN)
		output("CustomDomainURL", "Clients may connect here; handlers still post to CallbackURL", jsii.String("wss://"+d.Name))
		output("CustomDomainTarget", "Point the domain's DNS (CNAME or alias) here", s.Domain.RegionalDomainName())
	}
	output("WebSocketURL", "Clients connect here (wss://)", s.API.Stage.Url())
	output("CallbackURL", "The @connections management endpoint the handlers post to", s.API.Stage.CallbackUrl())
	output("TableName", "The chat table", s.Table.TableName())
	output("PublishURL", "Backends publish here with SigV4 (docs/publish.md; PUBLISH_URL for make publish)", s.PublishAPI.URL())
	if s.UserPool != nil {
		output("UserPoolId", "", s.UserPool.Pool.UserPoolId())
		output("UserPoolClientId", "", s.UserPool.Client.UserPoolClientId())
	}
}

// removalPolicy is what CloudFormation does with a stateful resource (table,
// log group, user pool) when the stack or the resource goes away: keep it
// where the environment's data matters (Config.Retain), else delete it so a
// torn-down test environment leaves nothing behind.
func removalPolicy(retain bool) awscdk.RemovalPolicy {
	if retain {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// grantTable gives each function exactly the table actions its code calls
// (see internal/dynamo) and @connections POST to those that push frames.
func grantTable(s *ChatStack) {
	grant := func(f *GoFunction, actions ...string) {
		s.Table.Grant(f.Role, *jsii.Strings(actions...)...)
	}
	// $connect writes the connection and its user index item, counts the
	// user's connections (Query) and, over the cap, removes the connection
	// again (GetItem, DeleteItem).
	grant(s.Connect, "dynamodb:PutItem", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem")
	// $disconnect reads the connection's channels, deletes it and its
	// memberships, and tells the channels who left (reading their members).
	grant(s.Disconnect, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:DeleteItem")
	s.API.GrantPostToConnections(s.Disconnect.Role)
	// Chat actions read and write every item kind; history reads the
	// targets of a page's changes (and a thread its replies) in one
	// BatchGetItem.
	grant(s.Chat, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query",
		"dynamodb:BatchGetItem")
	s.API.GrantPostToConnections(s.Chat.Role)
	s.API.GrantDeleteConnections(s.Chat.Role)
}
