// Package contract holds the names shared by the infrastructure (wschatcdk) and the
// runtime (lambdas/, internal/, local/): environment variables, route keys,
// function names and authorizer context keys. Both sides import these constants
// so a rename cannot leave a deployed handler reading a variable that the stack
// no longer sets.
package contract

import "github.com/wschat/wschat/wire"

// Environment variables the stack sets on the functions.
const (
	// EnvTableName is the DynamoDB table that holds connections, memberships,
	// counters and history.
	EnvTableName = "WSCHAT_TABLE_NAME"
	// EnvCallbackURL is the stage's @connections endpoint,
	// https://{apiId}.execute-api.{region}.amazonaws.com/{stage}. Handlers always
	// post here, never through a custom domain.
	EnvCallbackURL = "WSCHAT_CALLBACK_URL"
	// EnvHistoryRetention is how long history items live, as a Go duration ("720h").
	EnvHistoryRetention = "WSCHAT_HISTORY_RETENTION"
	// EnvRatePerSecond and EnvRateBurst bound the messages one connection may send.
	EnvRatePerSecond = "WSCHAT_RATE_PER_SECOND"
	EnvRateBurst     = "WSCHAT_RATE_BURST"
	// EnvMaxChannels bounds the channels one connection may join.
	EnvMaxChannels = "WSCHAT_MAX_CHANNELS"
	// EnvFanoutWorkers is the size of the fan-out worker pool.
	EnvFanoutWorkers = "WSCHAT_FANOUT_WORKERS"
	// EnvSendBudget bounds the @connections posts one invocation may make.
	EnvSendBudget = "WSCHAT_SEND_BUDGET"
	// EnvPresenceMaxMembers is the channel size above which joins and leaves
	// are no longer broadcast to every member.
	EnvPresenceMaxMembers = "WSCHAT_PRESENCE_MAX_MEMBERS"
	// EnvDefaultChannels is the channel capability (docs/auth.md) of a
	// connection whose token carries no grant (no channels claim, no mapped
	// group): "*" in dev, unset (nothing) in prod unless configured.
	EnvDefaultChannels = "WSCHAT_DEFAULT_CHANNELS"
	// EnvMaxConnectionsPerUser caps a user's live connections (0: no cap).
	EnvMaxConnectionsPerUser = "WSCHAT_MAX_CONNECTIONS_PER_USER"
	// EnvUserRatePerSecond and EnvUserRateBurst bound the requests of one
	// user across all its connections (rate 0 disables).
	EnvUserRatePerSecond = "WSCHAT_USER_RATE_PER_SECOND"
	EnvUserRateBurst     = "WSCHAT_USER_RATE_BURST"
	// EnvFrameRatePerSecond and EnvFrameBurst bound every frame of one
	// connection (ping and undecodable ones included) at each function
	// instance, in memory (rate 0 disables).
	EnvFrameRatePerSecond = "WSCHAT_FRAME_RATE_PER_SECOND"
	EnvFrameBurst         = "WSCHAT_FRAME_BURST"
	// EnvChannelRate bounds the deliveries (one per member) per second
	// that one channel's sends ask for, so one channel cannot take the
	// account's @connections rate (0: only 1,000 sends/s per channel).
	EnvChannelRate = "WSCHAT_CHANNEL_RATE"
	// EnvLogLevel is the slog level: debug, info, warn or error.
	EnvLogLevel = "WSCHAT_LOG_LEVEL"

	// EnvAuthIssuer is the expected "iss" of tokens.
	EnvAuthIssuer = "WSCHAT_AUTH_ISSUER"
	// EnvAuthAudiences is a comma-separated list of accepted "aud" or "client_id" values.
	EnvAuthAudiences = "WSCHAT_AUTH_AUDIENCES"
	// EnvAuthJWKSURL is where the issuer's keys are; empty means
	// <issuer>/.well-known/jwks.json.
	EnvAuthJWKSURL = "WSCHAT_AUTH_JWKS_URL"
	// EnvAuthTokenUse, when set ("id" or "access"), is the Cognito token_use a
	// token must carry.
	EnvAuthTokenUse = "WSCHAT_AUTH_TOKEN_USE"
	// EnvGroupChannels maps Cognito groups to channel capabilities
	// (docs/auth.md): a JSON object {"<group>": "<capabilities>"}, read by
	// the authorizer for tokens without a channels claim. Unset: groups
	// grant nothing.
	EnvGroupChannels = "WSCHAT_GROUP_CHANNELS"
	// EnvReservedNames lists, as a JSON array, the display names only
	// backends show (the publish API's configured names): the authorizer
	// marks a user's name that looks like one (chat.UserMark). "server"
	// is always reserved.
	EnvReservedNames = "WSCHAT_RESERVED_NAMES"
)

// Route keys of the WebSocket API. The route selection expression is
// RouteSelectionExpression, so a client picks a route with {"action": "<key>"}.
const (
	RouteSelectionExpression = "$request.body.action"

	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"

	// The actions are the wire contract's; each is deployed as its own route.
	ActionJoin    = wire.ActionJoin
	ActionLeave   = wire.ActionLeave
	ActionSend    = wire.ActionSend
	ActionHistory = wire.ActionHistory
	ActionMembers = wire.ActionMembers
	ActionPing    = wire.ActionPing

	// The message lifecycle's actions.
	ActionEdit     = wire.ActionEdit
	ActionDelete   = wire.ActionDelete
	ActionReact    = wire.ActionReact
	ActionUnreact  = wire.ActionUnreact
	ActionTyping   = wire.ActionTyping
	ActionRead     = wire.ActionRead
	ActionChannels = wire.ActionChannels
	ActionReauth   = wire.ActionReauth
	ActionDirect   = wire.ActionDirect
	ActionModerate = wire.ActionModerate
)

// Actions lists the protocol actions, each deployed as its own route.
var Actions = wire.Actions

// The ping route is answered by API Gateway itself, with no function: a
// MOCK integration whose request template selects status 200 and whose
// integration response template is the pong, sent back through the route's
// $default route response. A heartbeat then costs two API Gateway messages
// and no Lambda invocation (docs/client.md, "Liveness"). The emulator
// serves the same templates from the synthesized template.
const (
	// MockOKTemplate is the MOCK integration's request template: the status
	// the integration "returns".
	MockOKTemplate = `{"statusCode": 200}`
	// PongTemplate is the integration response's template: the wire's pong
	// (wire.Pong), naming the connection the client is on, which it passes
	// back as wire.ReplacesParameter after a reconnect.
	PongTemplate = `{"type":"pong","connectionId":"$context.connectionId"}`
	// TemplateKeyDefault is the key of a template selected by the
	// selection expression TemplateSelectDefault (the only one used here).
	TemplateKeyDefault    = "$default"
	TemplateSelectDefault = `\$default`
)

// Function names: each is a folder lambdas/<name> and a construct id in the construct.
const (
	FunctionConnect    = "connect"
	FunctionDisconnect = "disconnect"
	FunctionChat       = "chat"
	FunctionAuthorizer = "authorizer"
)

// Keys of the context that the $connect authorizer returns; API Gateway passes
// it to every handler of the connection as requestContext.authorizer.
const (
	AuthContextUserID   = "userId"
	AuthContextUserName = "userName"
	// AuthContextChannels holds the canonical channel capabilities of the
	// token (chat.Capabilities.String), absent when the token has none.
	AuthContextChannels = "channels"
)

// MetadataGoPackage is the CloudFormation metadata key on each function that
// names its Go main package by import path (for example
// "github.com/wschat/wschat/lambdas/chat"); the local emulator rebuilds the
// function for the host from it, in the module of the app that synthesized
// the template (whose go.mod resolves the path).
const MetadataGoPackage = "wschat:goPackage"

// TokenQueryParameter and SubprotocolName name the two places a client may put
// its JWT on the WebSocket upgrade: a "token" query parameter, or
// Sec-WebSocket-Protocol: "wschat.v1, <jwt>" (browsers cannot set other headers;
// a JWT is made of characters a subprotocol may hold). The server echoes
// SubprotocolName back, as API Gateway requires.
const (
	TokenQueryParameter = "token"
	SubprotocolName     = wire.Subprotocol
)

// ReplacesParameter is the upgrade's query parameter in which a client
// names the connection it gave up on without a close; $connect closes that
// connection when it is the same user's (docs/client.md, "Liveness").
const ReplacesParameter = wire.ReplacesParameter

// Key schema of the single table, shared by the stack (which declares it), the
// store (which reads and writes it) and the emulator (which creates it).
const (
	TablePartitionKey = "pk"
	TableSortKey      = "sk"
	// TableTTLAttribute holds an item's expiry in epoch seconds. DynamoDB deletes
	// expired items lazily (dynalite never does), so readers also skip them.
	TableTTLAttribute = "ttl"
)

// Metrics the handlers publish in CloudWatch embedded metric format, without
// dimensions, under the namespace in EnvMetricsNamespace ("WsChat/<env>"), so
// the stack's alarms and dashboard read exactly what the handlers write.
const (
	EnvMetricsNamespace = "WSCHAT_METRICS_NAMESPACE"

	MetricMessagesAccepted = "MessagesAccepted"
	MetricDeliveries       = "Deliveries"
	MetricGone             = "Gone"
	MetricFanoutFailed     = "FanoutFailed"
	MetricFanoutDuration   = "FanoutDurationMs"
	MetricRateLimited      = "RateLimited"
	// MetricConnectionsRefused counts $connects refused by the per-user
	// connection cap; MetricConnectionsClosed connections closed for
	// repeatedly exceeding their limits.
	MetricConnectionsRefused = "ConnectionsRefused"
	MetricConnectionsClosed  = "ConnectionsClosed"
	// MetricFramesDropped counts frames refused by the per-instance frame
	// limiter before any other work.
	MetricFramesDropped = "FramesDropped"
)

// The publish HTTP API (issue #12): routes a backend calls with SigV4 (every
// route is AWS_IAM), served by the publish function. The stack declares
// exactly these routes and grants execute-api:Invoke on exactly them; the
// function dispatches on the same keys.
const (
	FunctionPublish = "publish"

	// The routes are the wire contract's.
	PublishRouteChannelMessage  = wire.PublishRouteChannelMessage
	PublishRouteUserMessage     = wire.PublishRouteUserMessage
	PublishRouteUserConnections = wire.PublishRouteUserConnections

	// EnvPublishNames maps IAM principals to the display name their messages
	// carry: a JSON object {"<principal ARN>": "<name>"}, where the principal
	// is a role ARN (arn:aws:iam::<account>:role/<name>) or a user ARN. A
	// caller not listed is shown under its role or user name.
	EnvPublishNames = "WSCHAT_PUBLISH_NAMES"
)

// PublishRoutes lists the publish API's route keys.
var PublishRoutes = wire.PublishRoutes

// Fan-out spread over invocations (issue #13): above a channel size a send
// stores the message, then hands the broadcast to a queue as tasks of one
// shard each, which the fan-out function consumes (an SQS event source
// mapping with ReportBatchItemFailures).
const (
	FunctionFanout = "fanout"

	// EnvFanoutQueueURL is the task queue's URL, set on the functions that
	// broadcast (chat, publish). Unset: every broadcast runs in the sending
	// invocation, as below the threshold.
	EnvFanoutQueueURL = "WSCHAT_FANOUT_QUEUE_URL"
	// EnvFanoutThreshold is the channel size (members) above which a
	// broadcast goes through the queue. It must not exceed the send budget.
	EnvFanoutThreshold = "WSCHAT_FANOUT_THRESHOLD"

	// MetricFanoutTasks counts the tasks a send handed to the queue;
	// MetricFanoutThrottled the @connections posts answered 429.
	MetricFanoutTasks     = "FanoutTasks"
	MetricFanoutThrottled = "FanoutThrottled"
)

// Integrations (issue #22): the events function reads the table's stream
// and puts one EventBridge event per stored change on the bus; the chat
// function may call a before-send hook (a Lambda the team owns) before it
// stores a message; the webhooks function delivers events to HTTP
// endpoints, signed.
const (
	FunctionEvents   = "events"
	FunctionWebhooks = "webhooks"

	// EnvEventBus is the bus the events function puts events on (name or
	// ARN); EnvEventSource their source ("wschat" when unset).
	EnvEventBus    = "WSCHAT_EVENT_BUS"
	EnvEventSource = "WSCHAT_EVENT_SOURCE"
	// EnvEventsText says whether message and notice text goes into events
	// ("true"), or only its length ("false", the default).
	EnvEventsText = "WSCHAT_EVENTS_TEXT"

	// EnvHookFunction names the before-send hook (a function name or ARN);
	// unset: no hook. EnvHookTimeout is its time budget (a Go duration,
	// default 300ms); EnvHookFailure what a failed or late hook means:
	// "open" (store the message as sent, the default) or "closed" (refuse
	// it with code unavailable).
	EnvHookFunction = "WSCHAT_HOOK_FUNCTION"
	EnvHookTimeout  = "WSCHAT_HOOK_TIMEOUT"
	EnvHookFailure  = "WSCHAT_HOOK_FAILURE"

	// EnvNoticeRecords ("true") makes the publish function record each
	// notice in the table, for its user.notified event; set where events are.
	EnvNoticeRecords = "WSCHAT_NOTICE_RECORDS"

	// EnvWebhooks configures the webhooks function: a JSON object
	// {"<name>": {"url": "https://…", "secretArn": "arn:aws:secretsmanager:…"}};
	// each event reaches it wrapped as {"webhook": "<name>", "event": {…}}.
	EnvWebhooks = "WSCHAT_WEBHOOKS"
	// EnvWebhookTimeout bounds one delivery (a Go duration, default 10s).
	EnvWebhookTimeout = "WSCHAT_WEBHOOK_TIMEOUT"

	// Metrics of the events function.
	MetricEventsPublished  = "EventsPublished"
	MetricEventsFailed     = "EventsFailed"
	MetricEventsUnreadable = "EventsUnreadable"
	MetricEventLag         = "EventLagMs"

	// Metrics of the before-send hook, from the chat function: the time
	// each call took, and one count per outcome (a failure is a late,
	// failed or unreadable answer, whatever the failure mode made of it).
	MetricHookLatency  = "HookLatencyMs"
	MetricHookAllowed  = "HookAllowed"
	MetricHookRejected = "HookRejected"
	MetricHookReplaced = "HookReplaced"
	MetricHookFailed   = "HookFailed"

	// Metrics of the webhooks function.
	MetricWebhooksDelivered = "WebhooksDelivered"
	MetricWebhooksFailed    = "WebhooksFailed"
)

// EventStreamFilters are the Lambda filter criteria (EventBridge pattern
// syntax) of the events function's mapping from the table's stream: the
// writes that may be a change integrations hear of, by the store's key
// layout (internal/dynamo's item layout; its tests keep the two in step).
var EventStreamFilters = []string{
	// a message stored (not a tombstone, history's marker of an unused
	// seq; not a change's item or a pending reply, which carry a status)
	`{"eventName":["INSERT"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"HIST#"}]}},"NewImage":{"tombstone":{"BOOL":[{"exists":false}]},"st":{"S":[{"exists":false}]}}}}`,
	// a message's state written by a change or a reply (it records the
	// change's seq as pend); settling and marking leave pend as it was,
	// which the events function tells apart from the old image
	`{"eventName":["MODIFY"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"HIST#"}]}},"NewImage":{"pend":{"N":[{"exists":true}]}}}}`,
	// a membership added or removed (the roster item CHAN#<channel>#<shard> / CONN#<id>)
	`{"eventName":["INSERT","REMOVE"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"CHAN#"}]},"sk":{"S":[{"prefix":"CONN#"}]}}}}`,
	// a channel's member count set to 0 or 1 (CHAN#<channel> / META)
	`{"eventName":["INSERT","MODIFY"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"CHAN#"}]},"sk":{"S":["META"]}},"NewImage":{"members":{"N":["0","1"]}}}}`,
	// a connection registered or removed (CONN#<id> / META)
	`{"eventName":["INSERT","REMOVE"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"CONN#"}]},"sk":{"S":["META"]}}}}`,
	// a notice's record
	`{"eventName":["INSERT"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"NOTE#"}]}}}}`,
}
