package handler

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/protocol"
)

// Config holds the chat handlers' settings, read from the environment once
// per process by ConfigFromEnv.
type Config struct {
	// HistoryRetention is how long messages (and send claims) are kept.
	HistoryRetention time.Duration
	// RatePerSecond and RateBurst shape each connection's token bucket;
	// RatePerSecond 0 disables rate limiting.
	RatePerSecond float64
	RateBurst     int
	// MaxChannels bounds the channels one connection may join.
	MaxChannels int
	// SendBudget bounds the @connections posts of one invocation's
	// broadcasts; 0 means unlimited.
	SendBudget int
	// PresenceMaxMembers is the channel size above which joins and leaves
	// are no longer broadcast (see presenceRule); 0 means always broadcast.
	PresenceMaxMembers int
	// DefaultChannels is the capability (chat.ParseCapabilities) of a
	// connection whose token has no channels claim: "*" is open, "" (the
	// default when the variable is unset) grants nothing.
	DefaultChannels string
	// MaxConnectionsPerUser caps a user's live connections; 0: no cap.
	MaxConnectionsPerUser int
	// UserRatePerSecond and UserRateBurst shape each user's token bucket,
	// shared by its connections (in DynamoDB); rate 0 disables it.
	UserRatePerSecond float64
	UserRateBurst     int
	// FrameRatePerSecond and FrameBurst shape the in-memory bucket of every
	// frame of a connection, at each instance; rate 0 disables it.
	FrameRatePerSecond float64
	FrameBurst         int
	// ChannelRate is the deliveries (posts: one per member) per second one
	// channel's sends may ask for, sustained, with ChannelBurst of them
	// ahead: a send to n members costs n ÷ ChannelRate seconds of it. 0
	// leaves only the store's cap of 1,000 sends a second.
	ChannelRate float64
	// TokenGrace is how long after its token's exp a connection may still
	// be used (to renew with reauth); past it, it is refused and closed.
	TokenGrace time.Duration
	// DirectMessages allows the direct action and joining direct-message
	// channels.
	DirectMessages bool
}

// ChannelBurst is how far ahead of its rate a channel may send.
const ChannelBurst = time.Second

// Defaults for the variables ConfigFromEnv reads.
const (
	DefaultHistoryRetention = 720 * time.Hour
	DefaultRatePerSecond    = 5
	DefaultRateBurst        = 10
	DefaultSendBudget       = 2000
	// DefaultPresenceMaxMembers: up to 100 members a join costs at most 100
	// posts, and a channel of 100 fills with 5,000.
	DefaultPresenceMaxMembers = 100

	DefaultMaxConnectionsPerUser = 10
	DefaultUserRatePerSecond     = 10
	DefaultUserRateBurst         = 20
	DefaultFrameRatePerSecond    = 10
	DefaultFrameBurst            = 20
	// DefaultChannelRate is a fifth of the account's ~10,000 @connections
	// calls a second: five busy channels at their rate leave room.
	DefaultChannelRate = 2000
	// DefaultTokenGrace matches the authorizer's clock-skew leeway: a token
	// the authorizer still accepts is not refused by the handlers.
	DefaultTokenGrace = 60 * time.Second
)

// DefaultConfig returns the settings used when no variable is set.
func DefaultConfig() Config {
	return Config{
		HistoryRetention: DefaultHistoryRetention,
		RatePerSecond:    DefaultRatePerSecond,
		RateBurst:        DefaultRateBurst,
		MaxChannels:      protocol.DefaultMaxChannels,
		SendBudget:       DefaultSendBudget,

		PresenceMaxMembers:    DefaultPresenceMaxMembers,
		MaxConnectionsPerUser: DefaultMaxConnectionsPerUser,
		UserRatePerSecond:     DefaultUserRatePerSecond,
		UserRateBurst:         DefaultUserRateBurst,
		FrameRatePerSecond:    DefaultFrameRatePerSecond,
		FrameBurst:            DefaultFrameBurst,
		ChannelRate:           DefaultChannelRate,
		TokenGrace:            DefaultTokenGrace,
		DirectMessages:        true,
	}
}

// ConfigFromEnv reads WSCHAT_HISTORY_RETENTION, WSCHAT_RATE_PER_SECOND,
// WSCHAT_RATE_BURST, WSCHAT_MAX_CHANNELS, WSCHAT_SEND_BUDGET,
// WSCHAT_PRESENCE_MAX_MEMBERS, WSCHAT_DEFAULT_CHANNELS, the per-user,
// per-frame and per-channel limits, WSCHAT_TOKEN_GRACE and
// WSCHAT_DIRECT_MESSAGES, with the
// defaults above for unset ones. Every bad value is reported.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	if v := getenv(contract.EnvHistoryRetention); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive Go duration such as 720h", contract.EnvHistoryRetention, v))
		}
		c.HistoryRetention = d
	}
	rateVar := func(name string, dst *float64) {
		v := getenv(name)
		if v == "" {
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1e6 {
			errs = append(errs, fmt.Errorf("%s=%q: want a number of messages per second, 0 to disable", name, v))
		}
		*dst = f
	}
	rateVar(contract.EnvRatePerSecond, &c.RatePerSecond)
	rateVar(contract.EnvUserRatePerSecond, &c.UserRatePerSecond)
	rateVar(contract.EnvFrameRatePerSecond, &c.FrameRatePerSecond)
	rateVar(contract.EnvChannelRate, &c.ChannelRate)
	intVar := func(name string, dst *int, lo int) {
		v := getenv(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer >= %d", name, v, lo))
		}
		*dst = n
	}
	intVar(contract.EnvRateBurst, &c.RateBurst, 1)
	intVar(contract.EnvMaxChannels, &c.MaxChannels, 1)
	intVar(contract.EnvSendBudget, &c.SendBudget, 0)
	intVar(contract.EnvPresenceMaxMembers, &c.PresenceMaxMembers, 0)
	intVar(contract.EnvMaxConnectionsPerUser, &c.MaxConnectionsPerUser, 0)
	intVar(contract.EnvUserRateBurst, &c.UserRateBurst, 1)
	intVar(contract.EnvFrameBurst, &c.FrameBurst, 1)
	if v := getenv(contract.EnvDefaultChannels); v != "" {
		caps, err := chat.ParseCapabilities(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", contract.EnvDefaultChannels, v, err))
		}
		c.DefaultChannels = caps.String()
	}
	if v := getenv(contract.EnvTokenGrace); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Hour {
			errs = append(errs, fmt.Errorf("%s=%q: want a Go duration from 0s to 1h, such as 60s", contract.EnvTokenGrace, v))
		}
		c.TokenGrace = d
	}
	switch v := getenv(contract.EnvDirectMessages); v {
	case "", "on":
	case "off":
		c.DirectMessages = false
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want on or off", contract.EnvDirectMessages, v))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("chat config: %w", err)
	}
	return c, nil
}
