package chatstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/wschat/wschat/wschatcdk"
)

// Config is everything that differs between environments. Environments are
// data: the stack reads nothing else, and Validate runs before any construct
// is created, so a bad value stops synth with a message instead of producing a
// template that fails half-way through a deploy.
type Config struct {
	// Account and Region pin the stack to an AWS environment. Empty means the
	// CLI's CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION (an environment-agnostic
	// template when those are unset too, which is what offline synth produces).
	Account, Region string
	// ChatProps configure the chat layer. Its Name is the environment's
	// name (dev, staging, prod); the stack is WsChat-<Name>.
	wschatcdk.ChatProps
}

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$`)
)

// Validate reports every problem in c at once, so one synth shows them all:
// the stack's own settings and the chat layer's props.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if c.Account != "" && !accountPattern.MatchString(c.Account) {
		errs = append(errs, fmt.Errorf("account %q is not a 12-digit AWS account id", c.Account))
	}
	if c.Region != "" && !regionPattern.MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("region %q is not an AWS region name such as eu-west-1", c.Region))
	}
	var props *wschatcdk.PropsError
	if err := c.ChatProps.Validate(); errors.As(err, &props) {
		errs = append(errs, props.Errs...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("environment %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

// retain reports whether the environment keeps its data when the stack goes.
func (c Config) retain() bool { return c.RemovalPolicy == awscdk.RemovalPolicy_RETAIN }

// Environments returns the built-in environments by name. Callers get fresh
// values and may change them (tests do).
func Environments() map[string]Config {
	// Every environment starts from the construct's defaults.
	base := Config{ChatProps: wschatcdk.ChatProps{}.WithDefaults()}

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
	prod.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
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
		// Events on everywhere, on the stack's own bus; text only in dev,
		// whose messages are test data.
		c.Events = &wschatcdk.EventsProps{IncludeText: c == &dev}
	}
	return map[string]Config{"dev": dev, "staging": staging, "prod": prod}
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
		cfg.Auth = wschatcdk.AuthProps{Issuer: v, TokenUse: cfg.Auth.TokenUse}
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
	if v := get("authTokenUse"); v != "" {
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
		cfg.Domain = &wschatcdk.DomainProps{Name: name, CertificateARN: cert}
	}
	cfg, err := applyEventsOverrides(cfg, get)
	if err != nil {
		return cfg, err
	}
	if v := get("account"); v != "" {
		cfg.Account = v
	}
	if v := get("region"); v != "" {
		cfg.Region = v
	}
	return applyAuthzOverrides(cfg, get)
}

// applyAuthzOverrides reads the direct-message switch and the token grace.
func applyAuthzOverrides(cfg Config, get func(key string) string) (Config, error) {
	switch v := get("directMessages"); v {
	case "":
	case "on", "off":
		cfg.DisableDirectMessages = v == "off"
	default:
		return cfg, fmt.Errorf("-c directMessages=%q: want on or off", v)
	}
	if v := get("tokenGrace"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("-c tokenGrace=%q: want a Go duration such as 60s: %w", v, err)
		}
		cfg.TokenGrace = &d
	}
	return cfg, nil
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

// applyEventsOverrides reads the integrations' -c keys (docs/events.md):
// events on|off, eventsText, eventBusArn, eventSource, webhooks (a JSON
// list), beforeSendFunctionArn, beforeSendTimeout, beforeSendFailure.
func applyEventsOverrides(cfg Config, get func(key string) string) (Config, error) {
	switch v := get("events"); v {
	case "":
	case "off":
		cfg.Events = nil
	case "on":
		if cfg.Events == nil {
			cfg.Events = &wschatcdk.EventsProps{}
		}
	default:
		return cfg, fmt.Errorf("-c events %q: want on or off", v)
	}
	if cfg.Events != nil {
		e := *cfg.Events
		switch v := get("eventsText"); v {
		case "":
		case "true", "false":
			e.IncludeText = v == "true"
		default:
			return cfg, fmt.Errorf("-c eventsText %q: want true or false", v)
		}
		if v := get("eventBusArn"); v != "" {
			e.BusARN = v
		}
		if v := get("eventSource"); v != "" {
			e.Source = v
		}
		if v := get("webhooks"); v != "" {
			var hooks []struct {
				Name        string   `json:"name"`
				URL         string   `json:"url"`
				DetailTypes []string `json:"detailTypes"`
				SecretARN   string   `json:"secretArn"`
			}
			dec := json.NewDecoder(strings.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&hooks); err != nil {
				return cfg, fmt.Errorf(`-c webhooks: want a JSON list such as [{"name":"crm","url":"https://…","detailTypes":["message.created.v1"],"secretArn":"arn:…"}]: %w`, err)
			}
			e.Webhooks = nil
			for _, h := range hooks {
				e.Webhooks = append(e.Webhooks, wschatcdk.WebhookProps{Name: h.Name, URL: h.URL, DetailTypes: h.DetailTypes, SecretARN: h.SecretARN})
			}
		}
		cfg.Events = &e
	}
	if v := get("beforeSendFunctionArn"); v != "" {
		cfg.BeforeSend = &wschatcdk.BeforeSendProps{FunctionARN: v}
	}
	if t, f := get("beforeSendTimeout"), get("beforeSendFailure"); t != "" || f != "" {
		if cfg.BeforeSend == nil {
			return cfg, errors.New("-c beforeSendTimeout, beforeSendFailure: set only with -c beforeSendFunctionArn")
		}
		if t != "" {
			d, err := time.ParseDuration(t)
			if err != nil {
				return cfg, fmt.Errorf("-c beforeSendTimeout %q: want a Go duration such as 300ms: %w", t, err)
			}
			cfg.BeforeSend.Timeout = d
		}
		switch f {
		case "", "open":
		case "closed":
			cfg.BeforeSend.FailClosed = true
		default:
			return cfg, fmt.Errorf("-c beforeSendFailure %q: want open or closed", f)
		}
	}
	return cfg, nil
}
