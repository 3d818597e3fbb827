package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire/events"
)

// Hook is the team's before-send hook (*hook.Client): it answers a
// message about to be stored with a verdict.
type Hook interface {
	Check(ctx context.Context, in events.BeforeSend) (events.Verdict, error)
}

// HookConfig is the before-send hook's setting, read by
// HookConfigFromEnv.
type HookConfig struct {
	// Function names the hook; "" means no hook.
	Function string
	// Timeout is the hook's time budget per message.
	Timeout time.Duration
	// FailClosed refuses a message (code unavailable) when the hook fails
	// or is late; otherwise (fail open) the message is stored as sent.
	FailClosed bool
}

// DefaultHookTimeout is the hook's budget unless configured: a warm Lambda
// answers a word filter in a few milliseconds, and a sender waits for the
// ack while it runs.
const DefaultHookTimeout = 300 * time.Millisecond

// HookConfigFromEnv reads WSCHAT_HOOK_FUNCTION, WSCHAT_HOOK_TIMEOUT and
// WSCHAT_HOOK_FAILURE; every bad value is reported.
func HookConfigFromEnv(getenv func(string) string) (HookConfig, error) {
	c := HookConfig{Function: getenv(contract.EnvHookFunction), Timeout: DefaultHookTimeout}
	var errs []error
	if v := getenv(contract.EnvHookTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 10*time.Second {
			errs = append(errs, fmt.Errorf("%s=%q: want a Go duration from 1ms to 10s, such as 300ms", contract.EnvHookTimeout, v))
		}
		c.Timeout = d
	}
	switch v := getenv(contract.EnvHookFailure); v {
	case "", "open":
	case "closed":
		c.FailClosed = true
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want open or closed", contract.EnvHookFailure, v))
	}
	if err := errors.Join(errs...); err != nil {
		return HookConfig{}, fmt.Errorf("hook config: %w", err)
	}
	return c, nil
}

// hookGate applies the hook's verdict to a message: the text to store, or
// the error the sender gets. Its latency and outcome are metrics.
type hookGate struct {
	hook  Hook
	cfg   HookConfig
	log   *slog.Logger
	meter Meter
}

// check asks the hook about in's text (in's action, channel, client id and
// seqs as the request has them; the sender's identity is rq's). A nil
// gate allows everything.
func (g *hookGate) check(ctx context.Context, rq *request, in events.BeforeSend) (string, error) {
	text, channel := in.Text, in.Channel
	if g == nil || g.hook == nil {
		return text, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	start := time.Now()
	in.Version = events.HookVersion
	in.User = events.User{UserID: rq.UserID, UserName: rq.UserName}
	in.ConnectionID, in.RequestID = rq.ConnectionID, rq.APIRequestID
	v, err := g.hook.Check(callCtx, in)
	latency := metrics.Value{Name: contract.MetricHookLatency, Unit: metrics.Milliseconds, Value: float64(time.Since(start).Microseconds()) / 1000}
	if err == nil {
		err = usable(v)
	}
	if err != nil {
		g.meter.Record(ctx, latency, metrics.Value{Name: contract.MetricHookFailed, Unit: metrics.Count, Value: 1})
		g.log.LogAttrs(ctx, slog.LevelWarn, "before-send hook failed", slog.String("channel", channel),
			slog.Bool("failClosed", g.cfg.FailClosed), slog.Duration("after", time.Since(start)), logging.Err(err))
		if g.cfg.FailClosed {
			return "", protocol.Errorf(protocol.CodeUnavailable, "", "the message could not be checked; try again")
		}
		return text, nil
	}
	switch v.Verdict {
	case events.Reject:
		g.meter.Record(ctx, latency, metrics.Value{Name: contract.MetricHookRejected, Unit: metrics.Count, Value: 1})
		reason := v.Reason
		if reason == "" {
			reason = "the message was not accepted"
		}
		return "", protocol.Errorf(protocol.CodeRejected, "", "%s", cleanReason(reason))
	case events.Replace:
		g.meter.Record(ctx, latency, metrics.Value{Name: contract.MetricHookReplaced, Unit: metrics.Count, Value: 1})
		return v.Text, nil
	default:
		g.meter.Record(ctx, latency, metrics.Value{Name: contract.MetricHookAllowed, Unit: metrics.Count, Value: 1})
		return text, nil
	}
}

// usable reports what makes a verdict unusable: the contract's checks, and
// a replacement text the protocol would refuse from a client.
func usable(v events.Verdict) error {
	if err := v.Check(); err != nil {
		return fmt.Errorf("hook answer: %w", err)
	}
	if v.Verdict != events.Replace {
		return nil
	}
	if n := utf8.RuneCountInString(v.Text); n > protocol.MaxTextRunes {
		return fmt.Errorf("hook answer: replacement text of %d characters, the limit is %d", n, protocol.MaxTextRunes)
	}
	if strings.TrimFunc(v.Text, unicode.IsSpace) == "" {
		return errors.New("hook answer: blank replacement text")
	}
	if err := checkText(v.Text); err != nil {
		return fmt.Errorf("hook answer: replacement text: %w", err)
	}
	return nil
}

// cleanReason is a hook's reason as the sender sees it: valid UTF-8, no
// control characters (events.Verdict.Check bounds its length).
func cleanReason(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
