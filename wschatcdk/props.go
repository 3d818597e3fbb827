package wschatcdk

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
)

// ChatProps configures the real-time layer. Every prop is optional: the zero
// value of a field (or nil) means its documented default, so &ChatProps{}
// is a working layer with its own user pool, dev-grade retention (nothing
// retained when the stack goes) and its own alarm topic. NewChat validates
// the props before it creates anything: a bad value panics with an error
// that names the prop (Validate returns the same error, for apps that would
// rather print it).
type ChatProps struct {
	// Name labels what the layer makes for operators: the metrics namespace
	// WsChat/<Name> that the handlers write and the alarms read, and the
	// alarm topic's name. Default: the name of the stack the layer is in.
	Name string

	// StageName is the WebSocket API stage (and the publish API's); it is
	// part of the URL and of the @connections callback URL. Default: "live".
	StageName string
	// RemovalPolicy is what CloudFormation does with the stateful resources
	// (table, user pool, queues, log groups) when the stack or the resource
	// goes: awscdk.RemovalPolicy_RETAIN keeps them (and turns on deletion
	// protection of the table and the pool), as chat history is user data.
	// Default: awscdk.RemovalPolicy_DESTROY.
	RemovalPolicy awscdk.RemovalPolicy
	// PointInTimeRecovery turns on DynamoDB continuous backups. Default: off.
	PointInTimeRecovery bool
	// LogRetention is how long CloudWatch keeps function and access logs; it
	// must be one of the periods CloudWatch Logs accepts (1, 3, 5, 7, 14,
	// 30, 60, 90, ... days). Default: 30 days.
	LogRetention time.Duration

	// MemoryMB applies to every function. Default: 256.
	MemoryMB int
	// Timeout applies to every function that API Gateway invokes, at most
	// 29 s (API Gateway's integration limit). Default: 10 s.
	Timeout time.Duration
	// Tracing turns on AWS X-Ray active tracing for the functions. Default: off.
	Tracing bool

	// ThrottleRate (requests per second) and ThrottleBurst are the stage's
	// default route throttling: the account-wide ceiling is ~10,000 rps shared
	// with @connections calls, so each environment takes a slice of it.
	// Default: 100/s, burst 200.
	ThrottleRate  float64
	ThrottleBurst int
	// QuietRouteRate and QuietRouteBurst throttle the ping and $default
	// routes in buckets of their own (shared by every client of the stage):
	// they bound what a flood of frames that do no chat work can cost, and
	// may not exceed the stage's. Default: 20/s, burst 40 (or the stage's
	// throttle, where that is lower).
	QuietRouteRate  float64
	QuietRouteBurst int

	// HistoryRetention is how long a message stays in history. Default: 7 days.
	HistoryRetention time.Duration
	// RatePerSecond and RateBurst bound what one connection may send.
	// Default: 5/s, burst 10.
	RatePerSecond float64
	RateBurst     int
	// MaxChannels bounds the channels one connection may join. Default: 20.
	MaxChannels int
	// FanoutWorkers is the size of the @connections worker pool per
	// invocation. Default: 128.
	FanoutWorkers int
	// SendBudget bounds the @connections posts of one invocation, so one huge
	// channel cannot eat the account's API Gateway request rate. Default: 20,000.
	SendBudget int
	// PresenceMaxMembers is the channel size above which joins and leaves
	// are no longer broadcast to every member (filling a channel would be
	// quadratic in posts); 0 broadcasts them always. Default (nil): 100.
	PresenceMaxMembers *int

	// FanoutThreshold is the channel size (members) above which a send or a
	// publish stores the message and hands the broadcast to the fan-out
	// queue, one task per shard, instead of posting it itself. At most
	// SendBudget: a channel at the threshold is still posted to by the
	// sending invocation, inside its budget. Default: 2,000.
	FanoutThreshold int
	// FanoutTimeout is the fanout function's timeout (it serves no API
	// Gateway route, so the 29 s integration limit does not apply). The task
	// queue's visibility timeout is six times it. Default: 1 minute.
	FanoutTimeout time.Duration
	// FanoutBatchSize is the most tasks one fanout invocation receives.
	// Default: 1.
	FanoutBatchSize int
	// FanoutMaxConcurrency bounds the fanout function's concurrent
	// invocations (the event source mapping's MaximumConcurrency). With
	// FanoutWorkers posts in flight each, it is what bounds the share of the
	// account's API Gateway rate that large channels take. Default: 10.
	FanoutMaxConcurrency int
	// FanoutMaxReceives is how many times a task is tried before the queue
	// moves it to the dead-letter queue (maxReceiveCount). Default: 5.
	FanoutMaxReceives int
	// FanoutDLQRetention is how long the dead-letter queue keeps tasks that
	// failed every try, for an operator to inspect or redrive. Default: 14 days.
	FanoutDLQRetention time.Duration

	// DefaultChannels is the channel capability (docs/auth.md) of a token
	// that carries no grant (no wschat:channels claim, no mapped group):
	// "*" opens every channel. Default: "" (none).
	DefaultChannels string
	// GroupChannels maps Cognito group names to the channel capability their
	// members get (docs/auth.md): how an administrator grants channels to a
	// user of a Cognito pool, with `aws cognito-idp admin-add-user-to-group`.
	// A layer-owned pool gets these groups. Default (nil): one group,
	// wschat-all, that opens every channel; an empty map: no groups.
	GroupChannels map[string]string
	// MaxConnectionsPerUser caps a user's live connections; 0: no cap.
	// Default (nil): 10.
	MaxConnectionsPerUser *int
	// UserRatePerSecond and UserRateBurst bound the requests of one user
	// across all its connections and instances. Default: 10/s, burst 20.
	UserRatePerSecond float64
	UserRateBurst     int
	// FrameRatePerSecond and FrameBurst bound every frame of a connection
	// (pings and garbage included) per function instance, in memory.
	// Default: 10/s, burst 20.
	FrameRatePerSecond float64
	FrameBurst         int
	// ChannelRate bounds the deliveries (one per member) per second that
	// one channel's sends ask for, so one channel cannot take the account's
	// ~10,000 @connections calls a second from the others. Default: 2,000/s
	// (a fifth of the account's @connections rate).
	ChannelRate float64

	// TokenGrace is how long after its token's exp a connection may still
	// be used, to renew in-band (reauth); past it the connection is refused
	// (token_expired) and closed, and broadcasts skip it (docs/auth.md).
	// Whole seconds from 0 to 1 h. Default (nil): 60 s, the authorizer's
	// clock-skew leeway.
	TokenGrace *time.Duration
	// DisableDirectMessages turns direct messages off: no user may open
	// one (docs/auth.md). Default: false, users may; who may start one is
	// still the token's capability (d on dm-*).
	DisableDirectMessages bool

	// Auth chooses who issues the tokens that $connect accepts.
	// Default: a user pool of the layer's own.
	Auth AuthProps

	// PublishThrottleRate (requests per second) and PublishThrottleBurst are
	// the publish HTTP API stage's throttling: backends share the account's
	// API Gateway rate with the WebSocket API, so they get their own slice.
	// Default: 50/s, burst 100.
	PublishThrottleRate  float64
	PublishThrottleBurst int
	// PublishNames maps backend principals (role or user ARNs) to the
	// display name their messages carry; unlisted callers show their role
	// or user name. Default: none.
	PublishNames map[string]string

	// AlarmTopic is the topic every alarm notifies. Default: a topic of the
	// layer's own, encrypted with a key that CloudWatch may use.
	AlarmTopic awssns.ITopic
	// AlarmEmail, when set, subscribes this address to the layer's own alarm
	// topic (not to an AlarmTopic given in props). Default: none.
	AlarmEmail string
	// Domain, when set, serves the API on a custom domain as well.
	// Default: none.
	Domain *DomainProps

	// Events turns on events out and webhooks (docs/events.md): the
	// table's stream, the events function, a bus (or the given one), the
	// dead-letter queues and their alarms. Default: nil, none of it.
	Events *EventsProps
	// BeforeSend names the before-send hook the chat function asks about
	// every message and edit. Default: nil, no hook.
	BeforeSend *BeforeSendProps

	// GoModuleDir is the directory of the go.mod from which the handler
	// binaries are built: the CDK app's module, whose go.mod resolves
	// github.com/wschat/wschat (from the module cache or a replace
	// directory). Default: the module of the working directory, which is
	// where `cdk synth` runs the app.
	GoModuleDir string
}

// AuthProps selects the token issuer: the layer's own Cognito user pool and
// app client (the default, handy for development), or an existing OIDC
// issuer such as a shared Cognito user pool (what production usually wants).
type AuthProps struct {
	// Issuer is the exact "iss" of accepted tokens (an https URL) of an
	// existing issuer. Default: "", the layer creates its own user pool.
	Issuer string
	// Audiences are the accepted "aud" or Cognito "client_id" values;
	// required with Issuer. Default: the own pool's app client.
	Audiences []string
	// JWKSURL overrides <Issuer>/.well-known/jwks.json. Default: that URL.
	JWKSURL string
	// TokenUse, for Cognito issuers, is the token_use to require: "id",
	// "access", or "any". Default: "id" with the layer's own pool, "any"
	// with an Issuer (other issuers' tokens carry no token_use).
	TokenUse string
}

// DomainProps maps the API to a custom domain. The handlers keep posting to
// the execute-api callback URL: the management API is not served on custom
// domains.
type DomainProps struct {
	// Name is the DNS name, e.g. chat.example.com. Required.
	Name string
	// CertificateARN is an ACM certificate for Name in the stack's region.
	// Required.
	CertificateARN string
}

var (
	stageNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	emailPattern     = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	certARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$`)
	// namePattern is what a CloudWatch namespace may hold after "WsChat/".
	namePattern = regexp.MustCompile(`^[A-Za-z0-9._#:/ -]{1,200}$`)
)

// Validate reports every problem of the props (with their defaults) at
// once, each naming its prop, so one synth shows them all.
func (p ChatProps) Validate() error {
	c := p.WithDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Name != "" && !namePattern.MatchString(c.Name) {
		bad("Name %q: want 1-200 letters, digits, spaces or . _ # : / - (it names the metrics namespace WsChat/<Name>)", c.Name)
	}
	if !stageNamePattern.MatchString(c.StageName) || c.StageName == "$default" {
		bad("StageName %q: must be 1-128 letters, digits, '-' or '_'", c.StageName)
	}
	switch c.RemovalPolicy {
	case awscdk.RemovalPolicy_RETAIN, awscdk.RemovalPolicy_DESTROY:
	default:
		bad("RemovalPolicy %q: want awscdk.RemovalPolicy_RETAIN or awscdk.RemovalPolicy_DESTROY", c.RemovalPolicy)
	}
	if _, ok := retentionDays(c.LogRetention); !ok {
		bad("LogRetention %v: not a CloudWatch Logs retention period (%s)", c.LogRetention, validRetentions())
	}
	if c.MemoryMB < 128 || c.MemoryMB > 10240 {
		bad("MemoryMB %d: outside Lambda's 128-10240 MB", c.MemoryMB)
	}
	if c.Timeout < time.Second || c.Timeout > 29*time.Second || c.Timeout%time.Second != 0 {
		bad("Timeout %v: must be whole seconds from 1s to 29s (API Gateway's integration limit)", c.Timeout)
	}
	if c.ThrottleRate <= 0 || c.ThrottleRate > 10000 {
		bad("ThrottleRate %v: must be above 0 and at most 10000 requests/s (the account limit)", c.ThrottleRate)
	}
	if c.ThrottleBurst <= 0 || c.ThrottleBurst > 5000 {
		bad("ThrottleBurst %d: must be 1-5000 (the account limit)", c.ThrottleBurst)
	}
	if c.HistoryRetention < time.Hour {
		bad("HistoryRetention %v: must be at least 1h", c.HistoryRetention)
	}
	if c.RatePerSecond <= 0 || c.RateBurst < 1 {
		bad("RatePerSecond %v, RateBurst %d: the per-connection rate and burst must both be positive", c.RatePerSecond, c.RateBurst)
	}
	if c.MaxChannels < 1 || c.MaxChannels > 100 {
		bad("MaxChannels %d: must be 1-100", c.MaxChannels)
	}
	if c.FanoutWorkers < 1 || c.FanoutWorkers > 1000 {
		bad("FanoutWorkers %d: must be 1-1000", c.FanoutWorkers)
	}
	if c.SendBudget < 1 {
		bad("SendBudget %d: must be positive", c.SendBudget)
	}
	if n := *c.PresenceMaxMembers; n < 0 || n > 10000 {
		bad("PresenceMaxMembers %d: must be 0-10000 (0: always announce joins and leaves)", n)
	}
	errs = append(errs, c.validateLimits()...)
	errs = append(errs, c.Auth.validate()...)
	errs = append(errs, c.validatePublish()...)
	errs = append(errs, c.validateFanout()...)
	errs = append(errs, c.validateAuthz()...)
	errs = append(errs, c.validateEvents()...)
	if c.AlarmEmail != "" && !emailPattern.MatchString(c.AlarmEmail) {
		bad("AlarmEmail %q: not an e-mail address", c.AlarmEmail)
	}
	if c.AlarmEmail != "" && c.AlarmTopic != nil {
		bad("AlarmEmail %q: subscribes the layer's own topic; with AlarmTopic set, subscribe that topic instead", c.AlarmEmail)
	}
	if d := c.Domain; d != nil {
		if d.Name == "" || strings.ContainsAny(d.Name, "/: ") || !strings.Contains(d.Name, ".") {
			bad("Domain.Name %q: not a DNS name", d.Name)
		}
		if !certARNPattern.MatchString(d.CertificateARN) {
			bad("Domain.CertificateARN %q: not an ACM certificate ARN", d.CertificateARN)
		}
	}
	if len(errs) > 0 {
		return &PropsError{Errs: errs}
	}
	return nil
}

func (a AuthProps) validate() []error {
	var errs []error
	if a.Issuer == "" {
		if len(a.Audiences) > 0 || a.JWKSURL != "" {
			errs = append(errs, errors.New("Auth.Audiences, Auth.JWKSURL: set only with Auth.Issuer (the layer's own pool has its own client and keys)"))
		}
	} else {
		if u, err := url.Parse(a.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("Auth.Issuer %q: must be an https URL (or empty for a user pool of the layer's own)", a.Issuer))
		}
		if len(a.Audiences) == 0 || slices.Contains(a.Audiences, "") {
			errs = append(errs, errors.New("Auth.Audiences: at least one non-empty audience (app client id) is required with an issuer"))
		}
		if a.JWKSURL != "" {
			if u, err := url.Parse(a.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
				errs = append(errs, fmt.Errorf("Auth.JWKSURL %q: must be an https URL", a.JWKSURL))
			}
		}
	}
	switch a.TokenUse {
	case "id", "access", "any":
	default:
		errs = append(errs, fmt.Errorf("Auth.TokenUse %q: must be \"id\", \"access\" or \"any\"", a.TokenUse))
	}
	return errs
}

// tokenUse is the token_use the authorizer requires ("" for any).
func (a AuthProps) tokenUse() string {
	if a.TokenUse == "any" {
		return ""
	}
	return a.TokenUse
}

// retentionPeriods are the retention periods CloudWatch Logs accepts.
var retentionPeriods = []struct {
	days int
	enum awslogs.RetentionDays
}{
	{1, awslogs.RetentionDays_ONE_DAY}, {3, awslogs.RetentionDays_THREE_DAYS}, {5, awslogs.RetentionDays_FIVE_DAYS},
	{7, awslogs.RetentionDays_ONE_WEEK}, {14, awslogs.RetentionDays_TWO_WEEKS}, {30, awslogs.RetentionDays_ONE_MONTH},
	{60, awslogs.RetentionDays_TWO_MONTHS}, {90, awslogs.RetentionDays_THREE_MONTHS}, {120, awslogs.RetentionDays_FOUR_MONTHS},
	{150, awslogs.RetentionDays_FIVE_MONTHS}, {180, awslogs.RetentionDays_SIX_MONTHS}, {365, awslogs.RetentionDays_ONE_YEAR},
	{400, awslogs.RetentionDays_THIRTEEN_MONTHS}, {545, awslogs.RetentionDays_EIGHTEEN_MONTHS}, {731, awslogs.RetentionDays_TWO_YEARS},
	{1096, awslogs.RetentionDays_THREE_YEARS}, {1827, awslogs.RetentionDays_FIVE_YEARS}, {2192, awslogs.RetentionDays_SIX_YEARS},
	{2557, awslogs.RetentionDays_SEVEN_YEARS}, {2922, awslogs.RetentionDays_EIGHT_YEARS}, {3288, awslogs.RetentionDays_NINE_YEARS},
	{3653, awslogs.RetentionDays_TEN_YEARS},
}

// retentionDays maps a duration to CloudWatch's retention setting.
func retentionDays(d time.Duration) (awslogs.RetentionDays, bool) {
	for _, p := range retentionPeriods {
		if d == time.Duration(p.days)*24*time.Hour {
			return p.enum, true
		}
	}
	return "", false
}

func validRetentions() string {
	s := make([]string, len(retentionPeriods))
	for i, p := range retentionPeriods {
		s[i] = fmt.Sprintf("%dd", p.days)
	}
	return strings.Join(s, ", ")
}

// capabilityEntry is one entry of a channel capability: the grammar of
// chat.ParseCapabilities, which the stack may not import (it shares names,
// not code, with the runtime); a test checks that the two agree.
var capabilityEntry = regexp.MustCompile(`^(\*|[a-z0-9][a-z0-9_-]{0,63}|[a-z0-9][a-z0-9_-]{0,62}\*)(=[rwpd]{1,4})?$`)

// validCapabilities reports whether s is a capability list the handlers
// accept: entries separated by spaces or commas, at most 32, 2048 bytes.
func validCapabilities(s string) bool {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(s) > 2048 || len(fields) > 32 {
		return false
	}
	for _, f := range fields {
		if !capabilityEntry.MatchString(f) {
			return false
		}
	}
	return true
}

func (c ChatProps) validateLimits() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !validCapabilities(c.DefaultChannels) {
		bad("DefaultChannels %q: want channel names, name* patterns or *, each optionally =rights of r, w, p, d", c.DefaultChannels)
	}
	errs = append(errs, c.validateGroups()...)
	if n := *c.MaxConnectionsPerUser; n < 0 || n > 1000 {
		bad("MaxConnectionsPerUser %d: must be 0 (no cap) to 1000", n)
	}
	if c.UserRatePerSecond <= 0 || c.UserRateBurst < 1 {
		bad("UserRatePerSecond %v, UserRateBurst %d: the per-user rate and burst must both be positive", c.UserRatePerSecond, c.UserRateBurst)
	}
	if c.QuietRouteRate <= 0 || c.QuietRouteRate > c.ThrottleRate || c.QuietRouteBurst <= 0 || c.QuietRouteBurst > c.ThrottleBurst {
		bad("QuietRouteRate %v, QuietRouteBurst %d: the ping/$default route throttle must be above 0 and at most the stage's %v/s burst %d", c.QuietRouteRate, c.QuietRouteBurst, c.ThrottleRate, c.ThrottleBurst)
	}
	if c.ChannelRate <= 0 || c.ChannelRate > 10000 {
		bad("ChannelRate %v: must be above 0 and at most 10000 deliveries/s (the account's @connections rate)", c.ChannelRate)
	}
	if c.FrameRatePerSecond <= 0 || c.FrameBurst < 1 {
		bad("FrameRatePerSecond %v, FrameBurst %d: the per-connection frame rate and burst must both be positive", c.FrameRatePerSecond, c.FrameBurst)
	}
	return errs
}

// groupNamePattern is what Cognito accepts as a group name (CreateGroup).
var groupNamePattern = regexp.MustCompile(`^[\p{L}\p{M}\p{S}\p{N}\p{P}]{1,128}$`)

// validateGroups checks the group mapping as the authorizer will at start:
// Cognito group names, capabilities it accepts, and all of them together
// within the capability limits, since a token may name every group.
func (c ChatProps) validateGroups() []error {
	var errs []error
	names := slices.Sorted(maps.Keys(c.GroupChannels))
	all := make([]string, 0, len(names))
	for _, g := range names {
		if !groupNamePattern.MatchString(g) {
			errs = append(errs, fmt.Errorf("GroupChannels: %q is not a Cognito group name (1-128 letters, digits, symbols or punctuation)", g))
		}
		if !validCapabilities(c.GroupChannels[g]) {
			errs = append(errs, fmt.Errorf("GroupChannels: group %q: %q: want channel names, name* patterns or *, each optionally =rights of r, w, p, d", g, c.GroupChannels[g]))
		}
		all = append(all, c.GroupChannels[g])
	}
	if len(errs) == 0 && !validCapabilities(strings.Join(all, " ")) {
		errs = append(errs, errors.New("GroupChannels: all groups together exceed 32 entries or 2048 bytes, the most one grant may hold"))
	}
	return errs
}
