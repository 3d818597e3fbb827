package chatstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
)

// Config is everything that differs between environments. Environments are
// data: the stack reads nothing else, and Validate runs before any construct
// is created, so a bad value stops synth with a message instead of producing a
// template that fails half-way through a deploy.
type Config struct {
	// Name is the environment's name (dev, staging, prod); the stack is
	// WsChat-<Name>.
	Name string
	// Account and Region pin the stack to an AWS environment. Empty means the
	// CLI's CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION (an environment-agnostic
	// template when those are unset too, which is what offline synth produces).
	Account, Region string

	// StageName is the WebSocket API stage; it is part of the URL and of the
	// @connections callback URL.
	StageName string
	// Retain keeps the table and log groups when the stack is deleted or the
	// resource replaced. Always true in prod: chat history is user data.
	Retain bool
	// PointInTimeRecovery turns on DynamoDB continuous backups.
	PointInTimeRecovery bool
	// LogRetention is how long CloudWatch keeps function and access logs; it
	// must be one of the periods CloudWatch Logs accepts (see retentionDays).
	LogRetention time.Duration

	// MemoryMB and Timeout apply to every function.
	MemoryMB int
	Timeout  time.Duration
	// Tracing turns on AWS X-Ray active tracing for the functions.
	Tracing bool

	// ThrottleRate (requests per second) and ThrottleBurst are the stage's
	// default route throttling: the account-wide ceiling is ~10,000 rps shared
	// with @connections calls, so each environment takes a slice of it.
	ThrottleRate  float64
	ThrottleBurst int
	// QuietRouteRate and QuietRouteBurst throttle the ping and $default
	// routes in buckets of their own (shared by every client of the stage):
	// they bound what a flood of frames that do no chat work can cost.
	QuietRouteRate  float64
	QuietRouteBurst int

	// HistoryRetention is how long a message stays in history.
	HistoryRetention time.Duration
	// RatePerSecond and RateBurst bound what one connection may send.
	RatePerSecond float64
	RateBurst     int
	// MaxChannels bounds the channels one connection may join.
	MaxChannels int
	// FanoutWorkers is the size of the @connections worker pool per invocation.
	FanoutWorkers int
	// SendBudget bounds the @connections posts of one invocation, so one huge
	// channel cannot eat the account's API Gateway request rate.
	SendBudget int
	// PresenceMaxMembers is the channel size above which joins and leaves
	// are no longer broadcast to every member (filling a channel would be
	// quadratic in posts); 0 broadcasts them always.
	PresenceMaxMembers int

	// FanoutThreshold is the channel size (members) above which a send or a
	// publish stores the message and hands the broadcast to the fan-out
	// queue, one task per shard, instead of posting it itself. At most
	// SendBudget: a channel at the threshold is still posted to by the
	// sending invocation, inside its budget.
	FanoutThreshold int
	// FanoutTimeout is the fanout function's timeout (it serves no API
	// Gateway route, so the 29 s integration limit does not apply). The task
	// queue's visibility timeout is six times it.
	FanoutTimeout time.Duration
	// FanoutBatchSize is the most tasks one fanout invocation receives.
	FanoutBatchSize int
	// FanoutMaxConcurrency bounds the fanout function's concurrent
	// invocations (the event source mapping's MaximumConcurrency). With
	// FanoutWorkers posts in flight each, it is what bounds the share of the
	// account's API Gateway rate that large channels take.
	FanoutMaxConcurrency int
	// FanoutMaxReceives is how many times a task is tried before the queue
	// moves it to the dead-letter queue (maxReceiveCount).
	FanoutMaxReceives int
	// FanoutDLQRetention is how long the dead-letter queue keeps tasks that
	// failed every try, for an operator to inspect or redrive.
	FanoutDLQRetention time.Duration

	// DefaultChannels is the channel capability (docs/auth.md) of a token
	// that carries no grant (no wschat:channels claim, no mapped group):
	// "*" opens every channel, "" none.
	DefaultChannels string
	// GroupChannels maps Cognito group names to the channel capability their
	// members get (docs/auth.md): how an administrator grants channels to a
	// user of a Cognito pool, with `aws cognito-idp admin-add-user-to-group`.
	// A stack-owned pool gets these groups.
	GroupChannels map[string]string
	// MaxConnectionsPerUser caps a user's live connections (0: no cap).
	MaxConnectionsPerUser int
	// UserRatePerSecond and UserRateBurst bound the requests of one user
	// across all its connections and instances.
	UserRatePerSecond float64
	UserRateBurst     int
	// FrameRatePerSecond and FrameBurst bound every frame of a connection
	// (pings and garbage included) per function instance, in memory.
	FrameRatePerSecond float64
	FrameBurst         int
	// ChannelRate bounds the deliveries (one per member) per second that
	// one channel's sends ask for, so one channel cannot take the account's
	// ~10,000 @connections calls a second from the others.
	ChannelRate float64
	// TokenGrace is how long after its token's exp a connection may still
	// be used, to renew in-band (reauth); past it the connection is refused
	// and closed (docs/auth.md).
	TokenGrace time.Duration
	// DirectMessages lets users open direct-message channels; who may start
	// one is a capability (d on dm-*).
	DirectMessages bool

	// Auth chooses who issues the tokens that $connect accepts.
	Auth AuthConfig

	// PublishThrottleRate (requests per second) and PublishThrottleBurst are
	// the publish HTTP API stage's throttling: backends share the account's
	// API Gateway rate with the WebSocket API, so they get their own slice.
	PublishThrottleRate  float64
	PublishThrottleBurst int
	// PublishNames maps backend principals (role or user ARNs) to the
	// display name their messages carry; unlisted callers show their role
	// or user name.
	PublishNames map[string]string

	// AlarmEmail, when set, subscribes this address to the alarm topic.
	AlarmEmail string
	// Domain, when set, serves the API on a custom domain as well.
	Domain *DomainConfig
}

// AuthConfig selects the token issuer. Exactly one of CreateUserPool or
// Issuer is used: CreateUserPool makes the stack own a Cognito user pool and
// app client (handy for dev); Issuer points at an existing OIDC issuer such as
// a shared Cognito user pool (what prod usually wants).
type AuthConfig struct {
	CreateUserPool bool
	// Issuer is the exact "iss" of accepted tokens (https URL).
	Issuer string
	// Audiences are the accepted "aud" or Cognito "client_id" values.
	Audiences []string
	// JWKSURL overrides <Issuer>/.well-known/jwks.json.
	JWKSURL string
	// TokenUse, for Cognito issuers, is the token_use to require: "id" or
	// "access"; empty accepts any.
	TokenUse string
}

// DomainConfig maps the API to a custom domain. The handlers keep posting to
// the execute-api callback URL: the management API is not served on custom
// domains.
type DomainConfig struct {
	Name           string
	CertificateARN string
}

// Environments returns the built-in environments by name. Callers get fresh
// values and may change them (tests do).
func Environments() map[string]Config {
	base := withFanoutDefaults(baseEnvironment())

	dev := base
	dev.Name = "dev"
	dev.StageName = "dev"
	dev.LogRetention = 7 * 24 * time.Hour
	dev.HistoryRetention = 24 * time.Hour
	dev.ThrottleRate, dev.ThrottleBurst = 50, 100
	// Open, so the browser page and make token work without a claim.
	dev.DefaultChannels = "*"
	// The threshold stays at the base 2,000 (a sender posts to 2,000
	// members in about half a second, quicker than a hop through the queue,
	// and 1,000-member channels keep their delivery time); tests that need
	// the queue path lower it with --function-env. Few consumers, to leave
	// the account's rate alone.
	dev.FanoutMaxConcurrency = 5

	staging := base
	staging.Name = "staging"
	staging.StageName = "staging"
	staging.LogRetention = 14 * 24 * time.Hour
	staging.Tracing = true

	prod := base
	prod.Name = "prod"
	prod.StageName = "prod"
	prod.Retain = true
	prod.PointInTimeRecovery = true
	prod.LogRetention = 365 * 24 * time.Hour
	prod.MemoryMB = 512
	prod.Timeout = 29 * time.Second
	prod.Tracing = true
	prod.ThrottleRate, prod.ThrottleBurst = 2000, 4000
	prod.QuietRouteRate, prod.QuietRouteBurst = 200, 400
	prod.HistoryRetention = 30 * 24 * time.Hour
	prod.SendBudget = 50000
	// Half the account's rate: prod's big channels fan out faster.
	prod.ChannelRate = 5000
	prod.PublishThrottleRate, prod.PublishThrottleBurst = 500, 1000
	// 50 invocations x 128 workers: a 100,000-member channel (100 tasks) in
	// two rounds; the account's ~10,000 requests/s is the real ceiling.
	prod.FanoutMaxConcurrency = 50

	// One group out of the box, so an administrator can open every channel
	// to a user without a redeploy; -c groupChannels replaces the mapping.
	// A map each: callers may change one environment's.
	for _, c := range []*Config{&dev, &staging, &prod} {
		c.GroupChannels = map[string]string{"wschat-all": "*"}
	}
	return map[string]Config{"dev": dev, "staging": staging, "prod": prod}
}

// baseEnvironment holds the settings every environment starts from.
func baseEnvironment() Config {
	return Config{
		StageName:        "live",
		LogRetention:     30 * 24 * time.Hour,
		MemoryMB:         256,
		Timeout:          10 * time.Second,
		ThrottleRate:     100,
		ThrottleBurst:    200,
		QuietRouteRate:   20,
		QuietRouteBurst:  40,
		HistoryRetention: 7 * 24 * time.Hour,
		RatePerSecond:    5,
		RateBurst:        10,
		MaxChannels:      20,
		// 10,000 members at ~20 ms per @connections call need >= 67 posts in
		// flight to finish within 3 s; 128 leaves headroom. The send budget,
		// not the pool, bounds what one message costs the account's rate.
		FanoutWorkers: 128,
		SendBudget:    20000,
		// A join announced to 100 members is 100 posts; filling a channel of
		// 100 costs 5,000. Beyond that, members page the list.
		PresenceMaxMembers: 100,
		Auth:               AuthConfig{CreateUserPool: true, TokenUse: "id"},
		// Closed: a token must carry the channels it may use, unless the
		// environment says otherwise (-c defaultChannels=...).
		DefaultChannels:       "",
		MaxConnectionsPerUser: 10,
		UserRatePerSecond:     10,
		UserRateBurst:         20,
		FrameRatePerSecond:    10,
		FrameBurst:            20,
		// A fifth of the account's @connections rate per channel.
		ChannelRate: 2000,
		// The authorizer's clock-skew leeway: a token it still accepts is
		// not refused by the handlers.
		TokenGrace:     60 * time.Second,
		DirectMessages: true,
		// Backends publish far less often than users chat; a bulk job that
		// exceeds this gets 429s and the publisher backs off.
		PublishThrottleRate:  50,
		PublishThrottleBurst: 100,
	}
}

// EnvironmentNames lists the built-in environments, sorted.
func EnvironmentNames() []string {
	names := make([]string, 0, 3)
	for n := range Environments() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named environment, or an error that lists the valid names.
func Lookup(name string) (Config, error) {
	cfg, ok := Environments()[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown environment %q: valid environments are %s (choose one with -c env=NAME or ENV=NAME)",
			name, strings.Join(EnvironmentNames(), ", "))
	}
	return cfg, nil
}

var (
	stageNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	accountPattern   = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$`)
	emailPattern     = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	certARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$`)
)

// Validate reports every problem in c at once, so one synth shows them all.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Name == "" {
		bad("name is empty")
	}
	if c.Account != "" && !accountPattern.MatchString(c.Account) {
		bad("account %q is not a 12-digit AWS account id", c.Account)
	}
	if c.Region != "" && !regionPattern.MatchString(c.Region) {
		bad("region %q is not an AWS region name such as eu-west-1", c.Region)
	}
	if !stageNamePattern.MatchString(c.StageName) || c.StageName == "$default" {
		bad("stage name %q must be 1-128 letters, digits, '-' or '_'", c.StageName)
	}
	if _, ok := retentionDays(c.LogRetention); !ok {
		bad("log retention %v is not a CloudWatch Logs retention period (%s)", c.LogRetention, validRetentions())
	}
	if c.MemoryMB < 128 || c.MemoryMB > 10240 {
		bad("memory %d MB is outside Lambda's 128-10240 MB", c.MemoryMB)
	}
	if c.Timeout < time.Second || c.Timeout > 29*time.Second || c.Timeout%time.Second != 0 {
		bad("timeout %v must be whole seconds from 1s to 29s (API Gateway's integration limit)", c.Timeout)
	}
	if c.ThrottleRate <= 0 || c.ThrottleRate > 10000 {
		bad("throttle rate %v must be above 0 and at most 10000 requests/s (the account limit)", c.ThrottleRate)
	}
	if c.ThrottleBurst <= 0 || c.ThrottleBurst > 5000 {
		bad("throttle burst %d must be 1-5000 (the account limit)", c.ThrottleBurst)
	}
	if c.HistoryRetention < time.Hour {
		bad("history retention %v must be at least 1h", c.HistoryRetention)
	}
	if c.RatePerSecond <= 0 || c.RateBurst < 1 {
		bad("per-connection rate %v/s burst %d must both be positive", c.RatePerSecond, c.RateBurst)
	}
	if c.MaxChannels < 1 || c.MaxChannels > 100 {
		bad("max channels per connection %d must be 1-100", c.MaxChannels)
	}
	if c.FanoutWorkers < 1 || c.FanoutWorkers > 1000 {
		bad("fan-out workers %d must be 1-1000", c.FanoutWorkers)
	}
	if c.SendBudget < 1 {
		bad("send budget %d must be positive", c.SendBudget)
	}
	if c.PresenceMaxMembers < 0 || c.PresenceMaxMembers > 10000 {
		bad("presence size %d must be 0-10000 (0: always announce joins and leaves)", c.PresenceMaxMembers)
	}
	errs = append(errs, c.validateLimits()...)
	errs = append(errs, c.Auth.validate()...)
	errs = append(errs, c.validatePublish()...)
	errs = append(errs, c.validateFanout()...)
	errs = append(errs, c.validateAuthz()...)
	if c.AlarmEmail != "" && !emailPattern.MatchString(c.AlarmEmail) {
		bad("alarm e-mail %q is not an e-mail address", c.AlarmEmail)
	}
	if d := c.Domain; d != nil {
		if d.Name == "" || strings.ContainsAny(d.Name, "/: ") || !strings.Contains(d.Name, ".") {
			bad("custom domain name %q is not a DNS name", d.Name)
		}
		if !certARNPattern.MatchString(d.CertificateARN) {
			bad("custom domain certificate %q is not an ACM certificate ARN", d.CertificateARN)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("environment %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

func (a AuthConfig) validate() []error {
	var errs []error
	if a.CreateUserPool {
		if a.Issuer != "" || len(a.Audiences) > 0 || a.JWKSURL != "" {
			errs = append(errs, errors.New("auth: set either CreateUserPool or Issuer/Audiences/JWKSURL, not both"))
		}
	} else {
		if u, err := url.Parse(a.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("auth: issuer %q must be an https URL (or set CreateUserPool)", a.Issuer))
		}
		if len(a.Audiences) == 0 || slices.Contains(a.Audiences, "") {
			errs = append(errs, errors.New("auth: at least one non-empty audience (app client id) is required with an issuer"))
		}
		if a.JWKSURL != "" {
			if u, err := url.Parse(a.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
				errs = append(errs, fmt.Errorf("auth: JWKS URL %q must be an https URL", a.JWKSURL))
			}
		}
	}
	switch a.TokenUse {
	case "", "id", "access":
	default:
		errs = append(errs, fmt.Errorf("auth: token use %q must be \"id\", \"access\" or empty", a.TokenUse))
	}
	return errs
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

// ApplyOverrides returns cfg changed by the CDK context values that get
// returns (from `-c key=value` or cdk.json). An issuer given this way replaces
// a stack-owned user pool:
//
//	authIssuer, authAudiences (comma-separated), authJwksUrl,
//	authTokenUse (id, access, or any), defaultChannels (or none),
//	groupChannels (a JSON object of group to channels, or none),
//	alarmEmail, domainName, domainCertificateArn, account, region,
//	directMessages (on or off), tokenGrace (a Go duration)
//
// It fails only on a value it cannot read; Validate judges the result.
func ApplyOverrides(cfg Config, get func(key string) string) (Config, error) {
	if v := get("authIssuer"); v != "" {
		cfg.Auth = AuthConfig{Issuer: v, TokenUse: cfg.Auth.TokenUse}
	}
	if v := get("authAudiences"); v != "" {
		cfg.Auth.Audiences = nil
		for _, a := range strings.Split(v, ",") {
			cfg.Auth.Audiences = append(cfg.Auth.Audiences, strings.TrimSpace(a))
		}
	}
	if v := get("authJwksUrl"); v != "" {
		cfg.Auth.JWKSURL = v
	}
	if v, ok := lookup(get, "authTokenUse"); ok {
		cfg.Auth.TokenUse = v
	}
	if v := get("alarmEmail"); v != "" {
		cfg.AlarmEmail = v
	}
	if v, ok := lookupChannels(get); ok {
		cfg.DefaultChannels = v
	}
	if v := get("groupChannels"); v != "" {
		groups := map[string]string{}
		if v != "none" {
			if err := json.Unmarshal([]byte(v), &groups); err != nil {
				return cfg, fmt.Errorf(`-c groupChannels: want a JSON object such as {"staff":"*","members":"general,team-*=r"}, or none: %w`, err)
			}
		}
		cfg.GroupChannels = groups
	}
	if name, cert := get("domainName"), get("domainCertificateArn"); name != "" || cert != "" {
		cfg.Domain = &DomainConfig{Name: name, CertificateARN: cert}
	}
	if v := get("account"); v != "" {
		cfg.Account = v
	}
	switch v := get("directMessages"); v {
	case "":
	case "on", "off":
		cfg.DirectMessages = v == "on"
	default:
		return cfg, fmt.Errorf("-c directMessages=%q: want on or off", v)
	}
	if v := get("tokenGrace"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("-c tokenGrace=%q: want a Go duration such as 60s: %w", v, err)
		}
		cfg.TokenGrace = d
	}
	if v := get("region"); v != "" {
		cfg.Region = v
	}
	return cfg, nil
}

func lookup(get func(string) string, key string) (string, bool) {
	v := get(key)
	if v == "any" {
		return "", true
	}
	return v, v != ""
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

func (c Config) validateLimits() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !validCapabilities(c.DefaultChannels) {
		bad("default channels %q: want channel names, name* patterns or *, each optionally =rights of r, w, p", c.DefaultChannels)
	}
	errs = append(errs, c.validateGroups()...)
	if c.MaxConnectionsPerUser < 0 || c.MaxConnectionsPerUser > 1000 {
		bad("max connections per user %d must be 0 (no cap) to 1000", c.MaxConnectionsPerUser)
	}
	if c.UserRatePerSecond <= 0 || c.UserRateBurst < 1 {
		bad("per-user rate %v/s burst %d must both be positive", c.UserRatePerSecond, c.UserRateBurst)
	}
	if c.QuietRouteRate < 0 || c.QuietRouteRate > c.ThrottleRate || c.QuietRouteBurst < 0 || c.QuietRouteBurst > c.ThrottleBurst {
		bad("ping/$default route throttle %v/s burst %d must be 0 (off) up to the stage's %v/s burst %d", c.QuietRouteRate, c.QuietRouteBurst, c.ThrottleRate, c.ThrottleBurst)
	}
	if c.ChannelRate <= 0 || c.ChannelRate > 10000 {
		bad("channel rate %v must be above 0 and at most 10000 deliveries/s (the account's @connections rate)", c.ChannelRate)
	}
	if c.FrameRatePerSecond <= 0 || c.FrameBurst < 1 {
		bad("per-connection frame rate %v/s burst %d must both be positive", c.FrameRatePerSecond, c.FrameBurst)
	}
	return errs
}

// groupNamePattern is what Cognito accepts as a group name (CreateGroup).
var groupNamePattern = regexp.MustCompile(`^[\p{L}\p{M}\p{S}\p{N}\p{P}]{1,128}$`)

// validateGroups checks the group mapping as the authorizer will at start:
// Cognito group names, capabilities it accepts, and all of them together
// within the capability limits, since a token may name every group.
func (c Config) validateGroups() []error {
	var errs []error
	names := slices.Sorted(maps.Keys(c.GroupChannels))
	all := make([]string, 0, len(names))
	for _, g := range names {
		if !groupNamePattern.MatchString(g) {
			errs = append(errs, fmt.Errorf("group channels: %q is not a Cognito group name (1-128 letters, digits, symbols or punctuation)", g))
		}
		if !validCapabilities(c.GroupChannels[g]) {
			errs = append(errs, fmt.Errorf("group channels: group %q: %q: want channel names, name* patterns or *, each optionally =rights of r, w, p", g, c.GroupChannels[g]))
		}
		all = append(all, c.GroupChannels[g])
	}
	if len(errs) == 0 && !validCapabilities(strings.Join(all, " ")) {
		errs = append(errs, errors.New("group channels: all groups together exceed 32 entries or 2048 bytes, the most one grant may hold"))
	}
	return errs
}

// lookupChannels reads the defaultChannels override; "none" closes, since
// an empty context value cannot be told from an absent one.
func lookupChannels(get func(string) string) (string, bool) {
	v := get("defaultChannels")
	if v == "none" {
		return "", true
	}
	return v, v != ""
}
