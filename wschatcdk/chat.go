package wschatcdk

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// IChat is what another stack or app needs of a chat layer, whether defined
// in this app (a Chat) or deployed elsewhere (FromChatAttributes): its
// URLs and the grants to publish and to manage connections.
type IChat interface {
	constructs.IConstruct
	// WebSocketURL is where clients connect: wss://{api}.execute-api.{region}.{suffix}/{stage}.
	WebSocketURL() *string
	// CallbackURL is the stage's @connections management endpoint:
	// https://{api}.execute-api.{region}.{suffix}/{stage}.
	CallbackURL() *string
	// PublishURL is the base URL of the IAM-signed publish API, what a
	// publisher.Client is given: https://{api}.execute-api.{region}.{suffix}/{stage}.
	PublishURL() *string
	// GrantPublish lets grantee call exactly the publish API's routes on
	// this stage (execute-api:Invoke on POST /channels/*/messages, POST
	// /users/*/messages and DELETE /users/*/connections), and nothing else.
	GrantPublish(grantee awsiam.IGrantable) awsiam.Grant
	// GrantManageConnections lets grantee call the @connections API (post
	// to, look up and close connections) of this stage, and nothing else.
	GrantManageConnections(grantee awsiam.IGrantable) awsiam.Grant
}

// Chat is the real-time layer NewChat defines: a WebSocket API and stage,
// the functions behind it, the table, the fan-out queue and its
// dead-letter queue, the publish API, identity, alarms and a dashboard.
// It exposes the underlying L2 constructs, for what the props do not cover.
type Chat interface {
	IChat
	// WebSocketAPI is the WebSocket API; WebSocketStage its one stage.
	WebSocketAPI() awsapigatewayv2.WebSocketApi
	WebSocketStage() awsapigatewayv2.WebSocketStage
	// PublishAPI is the IAM-authorized HTTP API through which backends
	// publish; PublishStage its one stage.
	PublishAPI() awsapigatewayv2.HttpApi
	PublishStage() awsapigatewayv2.HttpStage
	// Table is the one DynamoDB table: connections, memberships, counters
	// and history.
	Table() awsdynamodb.Table
	// FanoutQueue holds the broadcast tasks of large channels;
	// FanoutDeadLetterQueue the tasks that failed every try.
	FanoutQueue() awssqs.Queue
	FanoutDeadLetterQueue() awssqs.Queue
	// Functions are the layer's Lambda functions.
	Functions() *ChatFunctions
	// UserPool and UserPoolClient are the layer's own Cognito user pool and
	// the app client whose tokens $connect accepts; both nil when
	// ChatProps.Auth names an existing issuer.
	UserPool() awscognito.UserPool
	UserPoolClient() awscognito.UserPoolClient
	// AlarmTopic is the topic every alarm notifies; Alarms the alarms;
	// Dashboard the operator's dashboard.
	AlarmTopic() awssns.ITopic
	Alarms() []awscloudwatch.Alarm
	Dashboard() awscloudwatch.Dashboard
	// DomainName is the custom domain, nil unless ChatProps.Domain is set.
	DomainName() awsapigatewayv2.DomainName
	// Props are the props the layer was built with, defaults filled in.
	Props() ChatProps
	ChatMetrics
}

// ChatFunctions are the layer's functions, each with its own role and log
// group (Function.Role(), Function.LogGroup()).
type ChatFunctions struct {
	// Authorizer verifies the token on $connect.
	Authorizer awslambda.Function
	// Connect and Disconnect serve $connect and $disconnect.
	Connect, Disconnect awslambda.Function
	// Chat serves every chat action and $default.
	Chat awslambda.Function
	// Publish serves the publish API.
	Publish awslambda.Function
	// Fanout consumes the fan-out queue.
	Fanout awslambda.Function
}

// layer is what NewChat builds, filled in step by step: each step reads
// the handles that the steps before it set.
type layer struct {
	// scope is the Chat construct, the parent of every part.
	scope      constructs.Construct
	Config     ChatProps
	Table      awsdynamodb.Table
	API        *chatAPI
	UserPool   *userPool // nil when the layer uses an existing issuer
	Connect    *goFunction
	Disconnect *goFunction
	Chat       *goFunction
	Authorizer *goFunction
	// Publish serves PublishAPI, the HTTP API for backends (docs/publish.md).
	Publish    *goFunction
	PublishAPI *publishAPI
	// Fanout consumes FanoutQueue: the broadcasts to channels above
	// Config.FanoutThreshold, one task per shard.
	Fanout        *goFunction
	FanoutQueue   *fanoutQueue
	FanoutMapping awslambda.EventSourceMapping
	Monitoring    *monitoring
	// Domain is the custom domain, nil unless configured.
	Domain awsapigatewayv2.DomainName
	// runtimeEnv is the environment addRuntimeEnvironment gave the runtime
	// functions, for functions defined after it.
	runtimeEnv map[string]*string
	// build is how the functions' binaries are built.
	build goBuild
}

// chat is the Chat construct: a constructs.Construct whose methods hand out
// the layer's parts (the interface-and-private-struct shape of Go constructs).
type chat struct {
	constructs.Construct
	s *layer
	// m are the metrics. Not embedded: jsii refuses an overriding struct
	// whose embedded structs have fields of their own.
	m *chatMetrics
}

// NewChat defines the real-time layer in scope, which may be any construct
// in any stack. props may be nil (every prop at its default). Invalid props
// panic with a *PropsError naming each bad prop, before anything is created.
//
// The construct ids of the stateful resources inside it (the table
// "Table", the user pool "Identity/Pool", the queues "FanoutQueue/Tasks"
// and "FanoutQueue/DeadLetters", the log groups) are part of its API: they
// do not change between versions, so an update never replaces them.
func NewChat(scope constructs.Construct, id *string, props *ChatProps) Chat {
	var p ChatProps
	if props != nil {
		p = *props
	}
	if p.Name == "" {
		p.Name = *awscdk.Stack_Of(scope).StackName()
	}
	if err := p.Validate(); err != nil {
		panic(err)
	}
	cfg := p.WithDefaults()
	build, err := newGoBuild(cfg.GoModuleDir)
	if err != nil {
		panic(fmt.Errorf("wschatcdk: ChatProps.GoModuleDir: %w", err))
	}
	c := &chat{}
	constructs.NewConstruct_Override(c, scope, id)
	c.s = newLayer(c, cfg, build)
	c.m = c.s.metrics()
	return c
}

// newLayer composes the parts in named steps.
func newLayer(scope constructs.Construct, cfg ChatProps, build goBuild) *layer {
	retention, _ := retentionDays(cfg.LogRetention) // checked by Validate
	s := &layer{scope: scope, Config: cfg, build: build}
	s.Table = newTable(scope, TableConstructID, tableProps{Retain: cfg.retain(), PointInTimeRecovery: cfg.PointInTimeRecovery})
	s.addFunctions(retention)
	s.addAPI(retention)
	s.addRuntimeEnvironment()
	grantTable(s)
	s.addPublish(retention)
	s.addFanout(retention)
	s.addMonitoring()
	s.addDomain()
	addNagSuppressions(s)
	addPublishNagSuppressions(s)
	addFanoutNagSuppressions(s)
	return s
}

// fn defines one of the layer's Go functions with its defaults.
func (s *layer) fn(id, name, description string, extra map[string]string, retention awslogs.RetentionDays) *goFunction {
	cfg := s.Config
	env := map[string]string{contract.EnvLogLevel: "info"}
	for k, v := range extra {
		env[k] = v
	}
	return newGoFunction(s.scope, id, goFunctionProps{
		Build:        s.build,
		Package:      lambdasPackage + "/" + name,
		Name:         name,
		Description:  description,
		MemoryMB:     cfg.MemoryMB,
		Timeout:      cfg.Timeout,
		Tracing:      cfg.Tracing,
		LogRetention: retention,
		Retain:       cfg.retain(),
		Environment:  env,
	})
}

// addFunctions defines the four functions with the environment's defaults.
// The runtime functions are created before the API (the API needs them as
// integrations), so their table and callback settings come later, from
// addRuntimeEnvironment.
func (s *layer) addFunctions(retention awslogs.RetentionDays) {
	// The authorizer only verifies tokens against the issuer's public keys:
	// it gets no table and no @connections access.
	s.Authorizer = s.fn("AuthorizerFunction", contract.FunctionAuthorizer, "Verifies the JWT on $connect", s.addIdentity(), retention)
	s.Connect = s.fn("ConnectFunction", contract.FunctionConnect, "Registers a connection on $connect", nil, retention)
	s.Disconnect = s.fn("DisconnectFunction", contract.FunctionDisconnect, "Removes a connection and its memberships on $disconnect", nil, retention)
	s.Chat = s.fn("ChatFunction", contract.FunctionChat, "Serves every chat action and $default", nil, retention)
}

// addIdentity defines the layer's own user pool, with the groups that grant
// channels, when the props name no issuer, and returns the authorizer's
// environment: whose tokens it accepts and what their groups grant.
func (s *layer) addIdentity() map[string]string {
	auth := s.Config.Auth
	env := map[string]string{contract.EnvAuthTokenUse: auth.tokenUse()}
	if len(s.Config.GroupChannels) > 0 {
		b, _ := json.Marshal(s.Config.GroupChannels) // a map of strings always marshals
		env[contract.EnvGroupChannels] = string(b)
	}
	if auth.Issuer == "" {
		s.UserPool = newUserPool(s.scope, "Identity", s.Config.retain())
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
func (s *layer) addAPI(retention awslogs.RetentionDays) {
	cfg := s.Config
	s.API = newChatAPI(s.scope, "WebSocket", chatAPIProps{
		StageName:       cfg.StageName,
		ThrottleRate:    cfg.ThrottleRate,
		QuietRouteRate:  cfg.QuietRouteRate,
		QuietRouteBurst: cfg.QuietRouteBurst,
		ThrottleBurst:   cfg.ThrottleBurst,
		LogRetention:    retention,
		Retain:          cfg.retain(),
		Connect:         s.Connect.Function,
		Disconnect:      s.Disconnect.Function,
		Chat:            s.Chat.Function,
		Authorizer:      s.Authorizer.Function,
	})
}

// addRuntimeEnvironment gives the runtime functions (not the authorizer) the
// table, the @connections endpoint and the environment's limits.
func (s *layer) addRuntimeEnvironment() {
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
		contract.EnvPresenceMaxMembers: strconv.Itoa(*cfg.PresenceMaxMembers),
		contract.EnvMetricsNamespace:   MetricsNamespace(cfg.Name),

		contract.EnvMaxConnectionsPerUser: strconv.Itoa(*cfg.MaxConnectionsPerUser),
		contract.EnvUserRatePerSecond:     strconv.FormatFloat(cfg.UserRatePerSecond, 'f', -1, 64),
		contract.EnvUserRateBurst:         strconv.Itoa(cfg.UserRateBurst),
		contract.EnvFrameRatePerSecond:    strconv.FormatFloat(cfg.FrameRatePerSecond, 'f', -1, 64),
		contract.EnvFrameBurst:            strconv.Itoa(cfg.FrameBurst),
	}
	// Unset means closed: the handlers' own default grants nothing.
	if cfg.DefaultChannels != "" {
		env[contract.EnvDefaultChannels] = cfg.DefaultChannels
	}
	s.runtimeEnv = map[string]*string{}
	for k, v := range env {
		s.runtimeEnv[k] = jsii.String(v)
	}
	for _, f := range []*goFunction{s.Connect, s.Disconnect, s.Chat} {
		for k, v := range env {
			f.Function.AddEnvironment(jsii.String(k), jsii.String(v), nil)
		}
	}
}

// addMonitoring defines the alarms and the dashboard over every function,
// the API, the table and the fan-out queues.
func (s *layer) addMonitoring() {
	s.Monitoring = newMonitoring(s.scope, "Monitoring", monitoringProps{
		Env:        s.Config.Name,
		AlarmEmail: s.Config.AlarmEmail,
		AlarmTopic: s.Config.AlarmTopic,
		Functions: map[string]*goFunction{
			contract.FunctionAuthorizer: s.Authorizer, contract.FunctionConnect: s.Connect,
			contract.FunctionDisconnect: s.Disconnect, contract.FunctionChat: s.Chat,
			contract.FunctionPublish: s.Publish, contract.FunctionFanout: s.Fanout,
		},
		Metrics: s.metrics(),
		Table:   s.Table,
	})
}

// addDomain maps the custom domain, if any.
func (s *layer) addDomain() {
	if d := s.Config.Domain; d != nil {
		s.Domain = s.API.MapDomain(d.Name, d.CertificateARN)
	}
}

// removalPolicy is what CloudFormation does with a stateful resource (table,
// log group, user pool) when the stack or the resource goes away: keep it
// where the environment's data matters (ChatProps.RemovalPolicy), else
// delete it so a torn-down test environment leaves nothing behind.
func removalPolicy(retain bool) awscdk.RemovalPolicy {
	if retain {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// grantTable gives each function exactly the table actions its code calls
// (see internal/dynamo) and @connections POST to those that push frames.
func grantTable(s *layer) {
	grant := func(f *goFunction, actions ...string) {
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
	// Chat actions read and write every item kind.
	grant(s.Chat, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query")
	s.API.GrantPostToConnections(s.Chat.Role)
	s.API.GrantDeleteConnections(s.Chat.Role)
}

// The Chat methods: the layer's parts.

func (c *chat) WebSocketAPI() awsapigatewayv2.WebSocketApi     { return c.s.API.API }
func (c *chat) WebSocketStage() awsapigatewayv2.WebSocketStage { return c.s.API.Stage }
func (c *chat) PublishAPI() awsapigatewayv2.HttpApi            { return c.s.PublishAPI.API }
func (c *chat) PublishStage() awsapigatewayv2.HttpStage        { return c.s.PublishAPI.Stage }
func (c *chat) Table() awsdynamodb.Table                       { return c.s.Table }
func (c *chat) FanoutQueue() awssqs.Queue                      { return c.s.FanoutQueue.Queue }
func (c *chat) FanoutDeadLetterQueue() awssqs.Queue            { return c.s.FanoutQueue.DeadLetters }
func (c *chat) AlarmTopic() awssns.ITopic                      { return c.s.Monitoring.Topic }
func (c *chat) Alarms() []awscloudwatch.Alarm                  { return c.s.Monitoring.Alarms }
func (c *chat) Dashboard() awscloudwatch.Dashboard             { return c.s.Monitoring.Dashboard }
func (c *chat) DomainName() awsapigatewayv2.DomainName         { return c.s.Domain }
func (c *chat) Props() ChatProps                               { return c.s.Config }

func (c *chat) Functions() *ChatFunctions {
	s := c.s
	return &ChatFunctions{
		Authorizer: s.Authorizer.Function, Connect: s.Connect.Function, Disconnect: s.Disconnect.Function,
		Chat: s.Chat.Function, Publish: s.Publish.Function, Fanout: s.Fanout.Function,
	}
}

func (c *chat) UserPool() awscognito.UserPool {
	if c.s.UserPool == nil {
		return nil
	}
	return c.s.UserPool.Pool
}

func (c *chat) UserPoolClient() awscognito.UserPoolClient {
	if c.s.UserPool == nil {
		return nil
	}
	return c.s.UserPool.Client
}

func (c *chat) WebSocketURL() *string { return c.s.API.Stage.Url() }
func (c *chat) CallbackURL() *string  { return c.s.API.Stage.CallbackUrl() }
func (c *chat) PublishURL() *string   { return c.s.PublishAPI.URL() }

func (c *chat) GrantPublish(grantee awsiam.IGrantable) awsiam.Grant {
	return c.s.PublishAPI.GrantPublish(grantee)
}

func (c *chat) GrantManageConnections(grantee awsiam.IGrantable) awsiam.Grant {
	return grantManageConnections(c.s.API.Construct, c.s.API.API.ApiId(), c.s.API.Stage.StageName(), grantee, "*")
}

func (c *chat) MetricConnects(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricConnects(p)
}
func (c *chat) MetricMessages(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricMessages(p)
}
func (c *chat) MetricIntegrationErrors(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricIntegrationErrors(p)
}
func (c *chat) MetricClientErrors(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricClientErrors(p)
}
func (c *chat) MetricExecutionErrors(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricExecutionErrors(p)
}
func (c *chat) MetricMessagesAccepted(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricMessagesAccepted(p)
}
func (c *chat) MetricRateLimited(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricRateLimited(p)
}
func (c *chat) MetricDeliveries(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricDeliveries(p)
}
func (c *chat) MetricGone(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricGone(p)
}
func (c *chat) MetricFanoutFailed(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricFanoutFailed(p)
}
func (c *chat) MetricFanoutDuration(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricFanoutDuration(p)
}
func (c *chat) MetricFanoutTasks(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricFanoutTasks(p)
}
func (c *chat) MetricFanoutThrottled(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricFanoutThrottled(p)
}
func (c *chat) MetricFanoutQueueAge(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricFanoutQueueAge(p)
}
func (c *chat) MetricFanoutDeadLetters(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return c.m.MetricFanoutDeadLetters(p)
}
