package wschatcdk

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
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
	// GrantManageAccess lets grantee manage who may use what (an
	// administrative backend): execute-api:Invoke on exactly the publish
	// API's access routes on this stage (PUT /channels/*, PUT and DELETE
	// /channels/*/members/*, GET /channels/*/members, PUT
	// /users/*/revocation: private channels' member lists and revocation,
	// docs/publish.md), and nothing else. Apart from GrantPublish: a
	// service that posts messages need not decide who is in a channel.
	GrantManageAccess(grantee awsiam.IGrantable) awsiam.Grant
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
	// ExpirySchedule is the EventBridge rule that runs the expiry function
	// every minute.
	ExpirySchedule() awsevents.Rule
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
	// EventBus is the bus events go to (ChatProps.Events.Bus or the
	// layer's own); nil without ChatProps.Events.
	EventBus() awsevents.IEventBus
	// EventsDeadLetterQueue holds the stream batches whose events failed
	// every retry; nil without ChatProps.Events.
	EventsDeadLetterQueue() awssqs.Queue
	// WebhookSecret is the signing secret of the webhook of that name; nil
	// for an unknown name.
	WebhookSecret(name *string) awssecretsmanager.ISecret
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
	// Expiry closes connections whose token expired (idle ones included),
	// run every minute by the Chat's ExpirySchedule.
	Expiry awslambda.Function
	// Events reads the table's stream and puts the events on the bus;
	// Webhooks delivers them to the webhooks. Each is nil unless
	// ChatProps.Events (with webhooks) asks for it.
	Events, Webhooks awslambda.Function
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
func (c *chat) ExpirySchedule() awsevents.Rule                 { return c.s.ExpiryRule }

func (c *chat) Functions() *ChatFunctions {
	s := c.s
	f := &ChatFunctions{
		Authorizer: s.Authorizer.Function, Connect: s.Connect.Function, Disconnect: s.Disconnect.Function,
		Chat: s.Chat.Function, Publish: s.Publish.Function, Fanout: s.Fanout.Function,
		Expiry: s.Expiry.Function,
	}
	if in := s.Integrations; in != nil && in.Events != nil {
		f.Events = in.Events.Function
		if in.Webhooks != nil {
			f.Webhooks = in.Webhooks.Function
		}
	}
	return f
}

func (c *chat) EventBus() awsevents.IEventBus {
	if c.s.Integrations == nil {
		return nil
	}
	return c.s.Integrations.Bus
}

func (c *chat) EventsDeadLetterQueue() awssqs.Queue {
	if c.s.Integrations == nil {
		return nil
	}
	return c.s.Integrations.DeadLetters
}

func (c *chat) WebhookSecret(name *string) awssecretsmanager.ISecret {
	if c.s.Integrations == nil || name == nil {
		return nil
	}
	return c.s.Integrations.WebhookSecrets[*name]
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

func (c *chat) GrantManageAccess(grantee awsiam.IGrantable) awsiam.Grant {
	return c.s.PublishAPI.GrantManageAccess(grantee)
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
