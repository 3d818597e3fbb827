package wschatcdk

import (
	"errors"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// Default values of ChatProps, applied by WithDefaults.
const (
	defaultStageName = "live"
	defaultTokenUse  = "id"
	// defaultGroup is the group every default GroupChannels holds: an
	// administrator opens every channel to a user without a redeploy.
	defaultGroup = "wschat-all"
)

// WithDefaults returns p with every unset prop at its default: the values
// NewChat builds with (except Name, which comes from the stack).
func (p ChatProps) WithDefaults() ChatProps {
	setString(&p.StageName, defaultStageName)
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_DESTROY
	}
	setDuration(&p.LogRetention, 30*24*time.Hour)
	setInt(&p.MemoryMB, 256)
	setDuration(&p.Timeout, 10*time.Second)
	setFloat(&p.ThrottleRate, 100)
	setInt(&p.ThrottleBurst, 200)
	setFloat(&p.QuietRouteRate, min(20, p.ThrottleRate))
	setInt(&p.QuietRouteBurst, min(40, p.ThrottleBurst))
	setDuration(&p.HistoryRetention, 7*24*time.Hour)
	setFloat(&p.RatePerSecond, 5)
	setInt(&p.RateBurst, 10)
	setInt(&p.MaxChannels, 20)
	// 10,000 members at ~20 ms per @connections call need >= 67 posts in
	// flight to finish within 3 s; 128 leaves headroom. The send budget,
	// not the pool, bounds what one message costs the account's rate.
	setInt(&p.FanoutWorkers, 128)
	setInt(&p.SendBudget, 20000)
	// A join announced to 100 members is 100 posts; filling a channel of
	// 100 costs 5,000. Beyond that, members page the list.
	setIntPtr(&p.PresenceMaxMembers, 100)
	p = p.withFanoutDefaults()
	p = p.withEventsDefaults()
	if p.GroupChannels == nil {
		p.GroupChannels = map[string]string{defaultGroup: "*"}
	}
	setIntPtr(&p.MaxConnectionsPerUser, 10)
	setFloat(&p.UserRatePerSecond, 10)
	setInt(&p.UserRateBurst, 20)
	setFloat(&p.FrameRatePerSecond, 10)
	setInt(&p.FrameBurst, 20)
	// A fifth of the account's @connections rate per channel.
	setFloat(&p.ChannelRate, 2000)
	setDurationPtr(&p.TokenGrace, defaultTokenGrace)
	if p.Auth.TokenUse == "" {
		p.Auth.TokenUse = "any"
		if p.Auth.Issuer == "" {
			p.Auth.TokenUse = defaultTokenUse
		}
	}
	// Backends publish far less often than users chat; a bulk job that
	// exceeds this gets 429s and the publisher backs off.
	setFloat(&p.PublishThrottleRate, 50)
	setInt(&p.PublishThrottleBurst, 100)
	return p
}

func setString(v *string, d string) {
	if *v == "" {
		*v = d
	}
}

func setInt(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

func setFloat(v *float64, d float64) {
	if *v == 0 {
		*v = d
	}
}

func setDuration(v *time.Duration, d time.Duration) {
	if *v == 0 {
		*v = d
	}
}

func setIntPtr(v **int, d int) {
	if *v == nil {
		*v = &d
	}
}

func setDurationPtr(v **time.Duration, d time.Duration) {
	if *v == nil {
		*v = &d
	}
}

// retain reports whether the stateful resources outlive the stack.
func (p ChatProps) retain() bool { return p.RemovalPolicy == awscdk.RemovalPolicy_RETAIN }

// PropsError is every problem Validate found in a ChatProps, each naming
// its prop.
type PropsError struct {
	Errs []error
}

// Error lists the problems, one per line.
func (e *PropsError) Error() string {
	return "wschatcdk: invalid ChatProps: " + errors.Join(e.Errs...).Error()
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *PropsError) Unwrap() []error { return e.Errs }
