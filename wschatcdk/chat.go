package wschatcdk

import (
	"encoding/json"
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
	// Expiry closes connections whose token expired, run by ExpiryRule.
	Expiry     *goFunction
	ExpiryRule awsevents.Rule
	Monitoring *monitoring
	// Integrations are the events function, bus, webhooks and hook; nil
	// without ChatProps.Events and ChatProps.BeforeSend.
	Integrations *integrations
	// Domain is the custom domain, nil unless configured.
	Domain awsapigatewayv2.DomainName
	// runtimeEnv is the environment addRuntimeEnvironment gave the runtime
	// functions, for functions defined after it.
	runtimeEnv map[string]*string
	// authEnv is the authorizer's issuer settings, which the chat function
	// verifies renewals with.
	authEnv map[string]string
	// build is how the functions' binaries are built.
	build goBuild
}

// newLayer composes the parts in named steps.
func newLayer(scope constructs.Construct, cfg ChatProps, build goBuild) *layer {
	retention, _ := retentionDays(cfg.LogRetention) // checked by Validate
	s := &layer{scope: scope, Config: cfg, build: build}
	s.Table = newTable(scope, TableConstructID, tableProps{Retain: cfg.retain(), PointInTimeRecovery: cfg.PointInTimeRecovery,
		Stream: cfg.Events != nil})
	s.addFunctions(retention)
	s.addAPI(retention)
	s.addRuntimeEnvironment()
	grantTable(s)
	s.addPublish(retention)
	s.addFanout(retention)
	s.addAuthz()
	s.addExpiry(retention)
	s.addEvents(retention)
	s.addBeforeSend()
	s.addMonitoring()
	s.addEventsAlarms()
	s.addDomain()
	addNagSuppressions(s)
	addPublishNagSuppressions(s)
	addFanoutNagSuppressions(s)
	addExpiryNagSuppressions(s)
	addEventsNagSuppressions(s)
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
	s.authEnv = s.addIdentity()
	s.Authorizer = s.fn("AuthorizerFunction", contract.FunctionAuthorizer, "Verifies the JWT on $connect", s.authEnv, retention)
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
	// Names only backends show: a user's name that looks like one is
	// marked ("server" always is).
	if names := slices.Sorted(maps.Values(s.Config.PublishNames)); len(names) > 0 {
		b, _ := json.Marshal(slices.Compact(names))
		env[contract.EnvReservedNames] = string(b)
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
		contract.EnvChannelRate:           strconv.FormatFloat(cfg.ChannelRate, 'f', -1, 64),
		contract.EnvTokenGrace:            (*cfg.TokenGrace).String(),
		contract.EnvDirectMessages:        directMessagesValue(!cfg.DisableDirectMessages),
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
			contract.FunctionExpiry: s.Expiry,
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
	// again (GetItem, DeleteItem). It closes the silent connection a
	// reconnecting client replaces (@connections DELETE, docs/client.md).
	grant(s.Connect, "dynamodb:PutItem", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem")
	s.API.GrantDeleteConnections(s.Connect.Role)
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
