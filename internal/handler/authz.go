package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/wschat/wschat/internal/auth"
	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire"
)

// Authorization that keeps up with a live connection (docs/auth.md): the
// grant's expiry on every request, its renewal in-band (reauth), private
// channels decided by their member list, and direct messages.

// TokenVerifier checks a token as the $connect authorizer does
// (*auth.Verifier): reauth must accept exactly what a new connection would.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (auth.Identity, error)
}

// WithVerifier lets h renew grants in-band (the reauth action) with tokens
// v accepts, and returns h. Without one, reauth is refused.
func (h *Chat) WithVerifier(v TokenVerifier) *Chat {
	h.reauth.verifier = v
	return h
}

func (h *Chat) addAuthzActions(store ChatStore, b chat.Broadcaster, r replier) {
	evict := &Evictor{Store: store, Poster: r.poster, Broadcaster: PresenceGate{Broadcaster: b, Sizer: sizerOf(store), Max: h.cfg.PresenceMaxMembers}, Log: h.log}
	h.reauth = &reauthAction{store: store, replier: r, evict: evict, cfg: h.cfg, log: h.log, meter: h.meter}
	h.actions[contract.ActionReauth] = h.reauth
	h.actions[contract.ActionDirect] = &directAction{store: store, replier: r, cfg: h.cfg, log: h.log}
}

func sizerOf(store any) ChannelSizer {
	s, _ := store.(ChannelSizer)
	return s
}

// tokenTimes reads the token's exp and iat from the authorizer context
// (zero when absent or malformed).
func tokenTimes(authorizer any) (exp, iat time.Time) {
	get := func(k string) time.Time {
		var v any
		switch a := authorizer.(type) {
		case map[string]any:
			v = a[k]
		case map[string]string:
			v = a[k]
		}
		var n int64
		switch v := v.(type) {
		case string:
			n, _ = strconv.ParseInt(v, 10, 64)
		case float64:
			n = int64(v)
		}
		if n <= 0 {
			return time.Time{}
		}
		return time.Unix(n, 0).UTC()
	}
	return get(contract.AuthContextExpires), get(contract.AuthContextIssuedAt)
}

// untilOf is when the grant the authorizer gave ends: exp plus grace.
func untilOf(authorizer any, grace time.Duration) time.Time {
	exp, _ := tokenTimes(authorizer)
	if exp.IsZero() {
		return exp
	}
	return exp.Add(grace)
}

func errTokenExpired() *protocol.Error {
	return protocol.Errorf(protocol.CodeTokenExpired, "", "your token expired; the connection is closed: reconnect with a fresh token (renew with reauth before it expires)")
}

func errTokenRevoked(before time.Time) *protocol.Error {
	return protocol.Errorf(protocol.CodeTokenRevoked, "", "tokens issued before %s were revoked; sign in again", before.UTC().Format(time.RFC3339))
}

// revokedBefore reports whether a token issued at iat falls under a
// revocation at before; a token without iat does whenever there is one.
func revokedBefore(iat, before time.Time) bool {
	return !before.IsZero() && (iat.IsZero() || iat.Before(before))
}

// closeExpired closes a connection whose grant ended, after its
// token_expired error frame. API Gateway then runs $disconnect.
func (h *Chat) closeExpired(ctx context.Context, rq *request) {
	// The request's line (rejected, token_expired) says why; the metric
	// rides with it.
	h.meter.Record(ctx, metrics.Value{Name: contract.MetricConnectionsExpired, Unit: metrics.Count, Value: 1})
	if h.closer == nil {
		return
	}
	if err := h.closer.Delete(ctx, rq.ConnectionID); err != nil && !errors.Is(err, chat.ErrGone) {
		h.log.LogAttrs(ctx, slog.LevelError, "close connection failed", logging.Err(err))
	}
}

// checkPing applies the grant's expiry to ping, which spends no rate token
// (and so reads nothing) while the authorizer's grant is current; after it
// ends, the connection item says whether a reauth extended it.
func (h *Chat) checkPing(ctx context.Context, rq *request) error {
	if rq.AuthUntil.IsZero() || rq.AuthUntil.After(rq.Now) {
		return nil
	}
	_, _, err := h.limiter.Admit(ctx, rq.ConnectionID, 0, 0)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return errNotRegistered()
	case errors.Is(err, chat.ErrExpired):
		return errTokenExpired()
	}
	return err
}

// ChannelInfoReader reads what a channel's item says (dynamo.Store).
type ChannelInfoReader interface {
	ChannelInfo(ctx context.Context, channel string) (chat.ChannelInfo, error)
}

// admitJoin decides whether a join may go on to the store: a public
// channel by the token's capabilities, a private one by its member list
// (which the store checks), a direct message by the environment's switch
// and its two users (the store again). Only a join the capabilities refuse
// reads the channel's item, to tell a private channel from a public one.
func admitJoin(ctx context.Context, store ChannelInfoReader, cfg Config, rq *request, channel string) error {
	if chat.IsDirect(channel) {
		if !cfg.DirectMessages {
			return errDirectOff()
		}
		return nil
	}
	if rq.Caps.Allows(channel, chat.RightRead) {
		return nil
	}
	info, err := store.ChannelInfo(ctx, channel)
	if err != nil {
		return err
	}
	if info.Private {
		return nil
	}
	return requireRight(rq, channel, chat.RightRead)
}

func errDirectOff() *protocol.Error {
	return protocol.Errorf(protocol.CodeForbidden, "", "direct messages are turned off in this environment")
}

func errNotListed(channel string) *protocol.Error {
	return protocol.Errorf(protocol.CodeForbidden, "", "channel %s is private and you are not on its member list", channel)
}

// requireAccess is requireRight and requireMember for an action on a joined
// channel: on a private channel (the membership says so; reading it is
// what requireMember does anyway) the member list decided at join and the
// token's capabilities do not apply. A public channel's request costs what
// it did: one membership read, and none when the capabilities refuse.
//
// It returns the membership, which also carries the user's mute in the
// channel (requireVoice).
func requireAccess(ctx context.Context, store MemberChecker, rq *request, channel string, right chat.Right) (chat.Member, error) {
	if rq.Caps.Allows(channel, right) {
		return requireMember(ctx, store, rq, channel)
	}
	m, err := store.Member(ctx, channel, rq.ConnectionID)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return m, requireRight(rq, channel, right)
	case err != nil:
		return m, err
	case !m.Private:
		return m, requireRight(rq, channel, right)
	}
	return m, nil
}

// ReauthStore is what reauth reads and writes.
type ReauthStore interface {
	EvictStore
	MemberChecker
	Revoked(ctx context.Context, userID string) (time.Time, error)
	RenewGrant(ctx context.Context, connID, userID string, g chat.Grant) (chat.Connection, error)
}

// reauthAction serves reauth: the token is verified as on $connect, must
// be the connection's user's and not revoked, and then replaces the
// connection's grant at once (capabilities, expiry). A public channel the
// new grant no longer lets the connection read is left at once, with a
// "removed" event.
type reauthAction struct {
	verifier TokenVerifier
	store    ReauthStore
	replier  replier
	evict    *Evictor
	cfg      Config
	log      *slog.Logger
	meter    Meter
}

func (h *reauthAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Reauth)
	id, err := h.verify(ctx, rq, r.Token)
	if err != nil {
		var perr *protocol.Error
		if errors.As(err, &perr) {
			h.meter.Record(ctx, metrics.Value{Name: contract.MetricReauthsRefused, Unit: metrics.Count, Value: 1})
		}
		return err
	}
	g := chat.Grant{Capabilities: id.Channels, IssuedAt: id.IssuedAt, Until: id.ExpiresAt.Add(h.cfg.TokenGrace)}
	conn, err := h.store.RenewGrant(ctx, rq.ConnectionID, rq.UserID, g)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return errNotRegistered()
	case err != nil:
		return err
	}
	rq.Caps = capsOf(g.Capabilities, h.cfg.DefaultChannels)
	h.meter.Record(ctx, metrics.Value{Name: contract.MetricReauths, Unit: metrics.Count, Value: 1})
	h.log.LogAttrs(ctx, slog.LevelInfo, "grant renewed", slog.String("userId", rq.UserID),
		slog.Time("until", g.Until), slog.String("channelsFrom", id.ChannelsFrom))
	if err := h.dropUngranted(ctx, rq, conn.Channels); err != nil {
		return err
	}
	return h.replier.reply(ctx, rq, protocol.Reauthed{ExpiresAt: id.ExpiresAt.UTC()})
}

// verify checks the renewal token: genuine and current (the verifier's
// own reasons), the connection's user's, issued after any revocation.
func (h *reauthAction) verify(ctx context.Context, rq *request, token string) (auth.Identity, error) {
	if h.verifier == nil {
		return auth.Identity{}, protocol.Errorf(protocol.CodeUnauthorized, "", "this deployment cannot renew tokens in-band; reconnect with the new token")
	}
	id, err := h.verifier.Verify(ctx, token)
	if err != nil {
		switch reason := auth.ReasonOf(err); reason {
		case "", auth.ReasonKeysUnavailable:
			return id, fmt.Errorf("reauth: %w", err) // our failure: internal, retry
		default:
			// The reason is safe to show and log; the token never is.
			return id, protocol.Errorf(protocol.CodeUnauthorized, "", "token refused: %s", reason)
		}
	}
	if id.UserID != rq.UserID {
		return id, protocol.Errorf(protocol.CodeForbidden, "", "the token is another user's; a connection keeps its user")
	}
	before, err := h.store.Revoked(ctx, id.UserID)
	if err != nil {
		return id, err
	}
	if revokedBefore(id.IssuedAt, before) {
		return id, errTokenRevoked(before)
	}
	return id, nil
}

// dropUngranted leaves every public channel the renewed grant does not let
// the connection read. Private channels and direct messages stay: their
// member list decides.
func (h *reauthAction) dropUngranted(ctx context.Context, rq *request, channels []string) error {
	for _, ch := range channels {
		if chat.IsDirect(ch) || rq.Caps.Allows(ch, chat.RightRead) {
			continue
		}
		m, err := h.store.Member(ctx, ch, rq.ConnectionID)
		if errors.Is(err, chat.ErrNotFound) || (err == nil && m.Private) {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := h.evict.Evict(ctx, ch, []chat.Connection{{ID: rq.ConnectionID, Identity: rq.Identity}}, wire.RemovedByGrant, rq.Now, rq.Budget); err != nil {
			return err
		}
	}
	return nil
}

// DirectStore is what the direct action reads and writes.
type DirectStore interface {
	OpenDirect(ctx context.Context, opener chat.Identity, peerID string, at time.Time) (chat.ListedChannel, bool, error)
	ConnectionsOfUser(ctx context.Context, userID string) ([]chat.Connection, error)
}

// directAction serves direct: the direct-message channel of the requester
// and another user, opened on first use (no backend involved). Who may
// open one is a capability (d on the channel's name, so "dm-*" or "*");
// that only the two can ever join is the store's (AddMember). On first
// opening, the other user's live connections are told.
type directAction struct {
	store   DirectStore
	replier replier
	cfg     Config
	log     *slog.Logger
}

func (h *directAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.OpenDirect)
	if !h.cfg.DirectMessages {
		return errDirectOff()
	}
	if r.UserID == rq.UserID {
		return protocol.Errorf(protocol.CodeInvalidField, "", "userId must be another user's")
	}
	channel := chat.DirectChannel(rq.UserID, r.UserID)
	if !rq.Caps.Allows(channel, chat.RightDirect) {
		return protocol.Errorf(protocol.CodeForbidden, "", "your token does not allow you to start direct messages")
	}
	uc, created, err := h.store.OpenDirect(ctx, rq.Identity, r.UserID, rq.Now)
	if err != nil {
		return err
	}
	rq.Channel = uc.Channel
	if created {
		h.notifyPeer(ctx, rq, uc.Channel, r.UserID)
	}
	return h.replier.reply(ctx, rq, protocol.Direct{Channel: uc.Channel, UserID: uc.Peer.UserID, UserName: uc.Peer.UserName,
		Created: created, At: rq.Now})
}

// notifyPeer tells the other user's live connections about a new direct
// message, best effort: it is in their channel listing either way.
func (h *directAction) notifyPeer(ctx context.Context, rq *request, channel, peer string) {
	conns, err := h.store.ConnectionsOfUser(ctx, peer)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "direct: peer's connections unread", logging.Err(err))
		return
	}
	frame, err := encodeFrame(protocol.Direct{Channel: channel, UserID: rq.UserID, UserName: rq.UserName, Created: true, At: rq.Now})
	if err != nil {
		return
	}
	for _, c := range conns {
		if err := h.replier.poster.Post(ctx, c.ID, frame); err != nil && !errors.Is(err, chat.ErrGone) {
			h.log.LogAttrs(ctx, slog.LevelWarn, "direct: peer not told", logging.Err(err))
		}
	}
}

// EvictStore removes a connection's membership (dynamo.Store.RemoveMember).
type EvictStore interface {
	RemoveMember(ctx context.Context, channel, connID string) (existed bool, err error)
}

// Evictor takes connections out of a channel at once: each membership is
// removed (so broadcasts no longer reach it), the connection gets a
// "removed" event and stays open, and the channel's other members get
// "left" (unless the channel is above the presence size).
type Evictor struct {
	Store       EvictStore
	Poster      chat.Poster
	Broadcaster chat.Broadcaster
	Log         *slog.Logger
}

// Evict removes conns from channel and returns how many were members. An
// error means some membership could not be removed: the caller reports a
// failure so that the removal is retried.
func (e *Evictor) Evict(ctx context.Context, channel string, conns []chat.Connection, reason string, now time.Time, budget *chat.Budget) (int, error) {
	var errs []error
	n := 0
	for _, c := range conns {
		existed, err := e.Store.RemoveMember(ctx, channel, c.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("evict %s from %s: %w", c.ID, channel, err))
			continue
		}
		if !existed {
			continue
		}
		n++
		removed, _ := encodeFrame(protocol.Removed{Channel: channel, Reason: reason, At: now})
		if err := e.Poster.Post(ctx, c.ID, removed); err != nil && !errors.Is(err, chat.ErrGone) {
			e.Log.LogAttrs(ctx, slog.LevelWarn, "removed event not delivered", logging.Err(err))
		}
		left, _ := encodeFrame(protocol.Left{Channel: channel, UserID: c.UserID, UserName: c.UserName, At: now})
		if _, err := e.Broadcaster.Broadcast(ctx, budget, channel, left); err != nil {
			e.Log.LogAttrs(ctx, slog.LevelWarn, "left not announced", logging.Err(err))
		}
	}
	return n, errors.Join(errs...)
}
