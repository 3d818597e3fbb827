package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wschat/wschat/wire"
)

// Renewal (docs/client.md): a connection's token expires, and the server
// then refuses and closes the connection (token_expired). Before that, the
// client asks Options.Token for a fresh token and hands it over in-band
// (reauth): the connection, its subscriptions and everything in flight stay
// as they are, so nothing is lost or delivered twice.

// ErrRemoved is the Err of a subscription the server took the client out
// of: a backend removed the user from a private channel's member list, or
// a renewed token no longer grants the channel. The subscription is not
// rejoined.
var ErrRemoved = errors.New("wschat client: removed from the channel")

// tokenExpiry reads a JWT's exp without verifying it (the server does):
// zero when the token is not a JWT or has no exp.
func tokenExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil || c.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(c.Exp), 0)
}

// renewAt is when to renew a grant that runs from now until exp: RenewBefore
// ahead of exp, but never later than two thirds of the way (a short-lived
// token is renewed with time to spare for a retry).
func (c *Client) renewAt(now, exp time.Time) time.Time {
	margin := min(c.opts.RenewBefore, exp.Sub(now)/3)
	return exp.Add(-margin)
}

// renewLoop keeps k's grant current while k lives: a reauth with a fresh
// token before each expiry. A failed attempt (the provider, the server's
// refusal, a timeout) is retried with backoff; if the grant runs out
// regardless, the server closes the connection and the client reconnects
// with a token from the provider, as after any loss.
func (k *conn) renewLoop() {
	defer k.c.wg.Done()
	c := k.c
	for attempt := 0; ; {
		exp := k.expiry()
		if exp.IsZero() || c.opts.Token == nil {
			return
		}
		wait := c.renewAt(c.opts.Now(), exp).Sub(c.opts.Now())
		if attempt > 0 {
			wait = c.backoff(attempt)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-k.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := k.renew(); err != nil {
			if k.ctx.Err() != nil {
				return
			}
			attempt++
			c.setState(c.State(), "token renewal failed", err)
			continue
		}
		attempt = 0
	}
}

// renew hands k a fresh token; the server's answer carries the new expiry.
func (k *conn) renew() error {
	c := k.c
	tok, err := c.opts.Token(k.ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrToken, err)
	}
	f, err := k.call(k.ctx, &wire.Reauth{Token: tok})
	if err != nil {
		return fmt.Errorf("reauth: %w", err)
	}
	exp := f.ExpiresAt
	if exp.IsZero() {
		exp = tokenExpiry(tok)
	}
	k.setExpiry(exp)
	c.renewals.Add(1)
	c.setState(c.State(), "token renewed in-band", nil)
	return nil
}

func (k *conn) expiry() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.exp
}

func (k *conn) setExpiry(t time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.exp = t
}

// Direct is a direct-message channel someone opened with this client's
// user (Options.OnDirect), or that OpenDirect opened.
type Direct struct {
	Channel string
	// UserID and UserName are the other user's.
	UserID, UserName string
	// Created: this was the channel's first opening.
	Created bool
}

// DirectChannel is the name of the direct-message channel of users a and b
// (the same whichever is first): the wire contract's.
func DirectChannel(a, b string) string { return wire.DirectChannel(a, b) }

// OpenDirect opens the direct-message channel with userID (the server
// creates it on first use; only the two users can ever join it) and joins
// it, with opts as for Join. An already joined channel's subscription is
// returned as it is. Who may start direct messages is the token's
// capability (d on dm-*), and the environment's switch.
func (c *Client) OpenDirect(ctx context.Context, userID string, opts ...JoinOption) (*Subscription, error) {
	if wire.CheckUserID(userID) != nil {
		return nil, fmt.Errorf("%w: user id %q", ErrInvalid, userID)
	}
	var f *frame
	for attempt := 0; ; attempt++ {
		k, err := c.waitActive(ctx)
		if err != nil {
			return nil, err
		}
		f, err = k.call(ctx, &wire.OpenDirect{UserID: userID})
		var se *ServerError
		if err == nil {
			break
		}
		if ctx.Err() != nil || c.ctx.Err() != nil || (errors.As(err, &se) && !se.retryable()) || attempt+1 >= c.opts.MaxSendAttempts {
			return nil, fmt.Errorf("open direct with %s: %w", userID, err)
		}
		if !c.sleep(c.backoff(attempt)) {
			return nil, ErrClosed
		}
	}
	if s := c.sub(f.Channel); s != nil {
		return s, nil
	}
	s, err := c.Join(ctx, f.Channel, opts...)
	if errors.Is(err, ErrAlreadyJoined) {
		if s := c.sub(f.Channel); s != nil {
			return s, nil
		}
	}
	return s, err
}

// removed ends the subscription the server took the client out of.
func (c *Client) removed(f *frame) {
	s := c.sub(f.Channel)
	if s == nil {
		return
	}
	c.dropSub(s, fmt.Errorf("%w: %s (%s)", ErrRemoved, f.Channel, f.Reason))
}

// direct reports a direct message someone opened with this client's user.
func (c *Client) direct(f *frame) {
	if c.opts.OnDirect != nil {
		c.opts.OnDirect(Direct{Channel: f.Channel, UserID: f.UserID, UserName: f.UserName, Created: f.Created})
	}
}
