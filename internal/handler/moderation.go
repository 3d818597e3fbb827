package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire"
)

// Roles and moderation (docs/auth.md, "Roles and moderation"). Owners and
// moderators of a channel mute, ban and (owners) set roles in-band with
// the moderate action; backends do the same through the publish API
// (internal/publish), through the same Moderator.

// StandingReader reads a user's role and moderation state in a channel
// (dynamo.Store.Standing).
type StandingReader interface {
	Standing(ctx context.Context, channel, userID string) (chat.Standing, error)
}

// ModerationWriter stores a moderation action in its channel's stream
// (dynamo.Store.PutModeration).
type ModerationWriter interface {
	PutModeration(ctx context.Context, m chat.Moderation) error
}

// ModerationStore is what moderation reads and writes.
type ModerationStore interface {
	StandingReader
	MemberChecker
	EvictStore
	ModerationWriter
	Moderate(ctx context.Context, channel, userID, op string, until time.Time, role string) (chat.Standing, error)
	SetMemberMute(ctx context.Context, channel, connID string, until time.Time) error
	ConnectionsOfUser(ctx context.Context, userID string) ([]chat.Connection, error)
}

// requireVoice refuses a muted member's send, edit, react, unreact and
// typing: the mute is on the membership the action read anyway.
func requireVoice(rq *request, m chat.Member) error {
	if m.MutedUntil.After(rq.Now) {
		return protocol.Errorf(protocol.CodeMuted, "", "you are muted in %s until %s: you can read but not send, edit, react or type",
			m.Channel, m.MutedUntil.UTC().Format(time.RFC3339))
	}
	return nil
}

func errBanned(channel string) *protocol.Error {
	return protocol.Errorf(protocol.CodeBanned, "", "you are banned from %s until a moderator unbans you", channel)
}

// ModerationPost is one moderation action to apply and record.
type ModerationPost struct {
	Channel string
	Op      string
	Subject string // the user moderated
	Seconds int64  // a mute's
	Role    string // a role op's
	Reason  string
	// Caller identifies who retries (the claim's user): a user's id, or
	// a backend's IAM principal; Identity and From are what members see.
	Caller   string
	Identity chat.Identity
	From     string
	ClientID string
	Now      time.Time
	Budget   *chat.Budget
}

// Moderator applies moderation actions: the standing first (so the action
// is in force before anyone is told), then its effect on the user's live
// memberships of the channel (a mute is copied onto them; a ban takes them
// out, after the event, which the banned user's connections receive too),
// and the event in the channel's stream under its own seq (as a change
// is: claimed, so a retry with the same clientId completes it and is
// recorded once).
type Moderator struct {
	Store     ModerationStore
	Deliverer *Deliverer
	Evict     *Evictor
	Log       *slog.Logger
}

// Apply applies p and returns the event's seq, a mute's end, and how many
// connections a ban took out of the channel.
func (mo *Moderator) Apply(ctx context.Context, p ModerationPost) (seq int64, until time.Time, conns int, err error) {
	if p.Op == wire.ModMute {
		until = p.Now.Add(time.Duration(p.Seconds) * time.Second)
	}
	if _, err := mo.Store.Moderate(ctx, p.Channel, p.Subject, p.Op, until, p.Role); err != nil {
		return 0, until, 0, err
	}
	live, err := mo.Store.ConnectionsOfUser(ctx, p.Subject)
	if err != nil {
		return 0, until, 0, err
	}
	subject := chat.Identity{UserID: p.Subject}
	if len(live) > 0 {
		subject.UserName = live[0].UserName
	}
	if p.Op == wire.ModMute || p.Op == wire.ModUnmute {
		for _, c := range live {
			if err := mo.Store.SetMemberMute(ctx, p.Channel, c.ID, until); err != nil && !errors.Is(err, chat.ErrNotFound) {
				return 0, until, 0, fmt.Errorf("moderate: mute membership: %w", err)
			}
		}
	}
	m := chat.Moderation{Channel: p.Channel, Op: p.Op, Subject: subject, Identity: p.Identity, From: p.From,
		Until: until, Role: p.Role, Reason: p.Reason, ClientID: p.ClientID}
	key := chat.ClaimKey{Channel: p.Channel, UserID: p.Caller, ClientID: p.ClientID}
	seq, err = mo.Deliverer.Moderate(ctx, mo.Store, key, m, p.Now, p.Budget)
	if err != nil {
		return 0, until, 0, err
	}
	if p.Op == wire.ModBan {
		conns, err = mo.Evict.Evict(ctx, p.Channel, live, wire.RemovedByBan, p.Now, p.Budget)
		if err != nil {
			return seq, until, conns, err
		}
	}
	return seq, until, conns, nil
}

// Moderate runs a moderation action through the channel's stream: the
// steps of a send (seq, claim, store, fan out; the delivered mark above
// MarkDeliveredAbove members), the item
// final when written, since it changes no message.
func (d *Deliverer) Moderate(ctx context.Context, store ModerationWriter, key chat.ClaimKey, m chat.Moderation, now time.Time, budget *chat.Budget) (int64, error) {
	hash := chat.TextHash("moderate\x00" + m.Op + "\x00" + m.Subject.UserID + "\x00" + m.Role + "\x00" +
		strconv.FormatInt(m.Until.Sub(now).Milliseconds(), 10) + "\x00" + m.Reason)
	claim, created, seq, err := d.claimSeq(ctx, key, hash, now, nil)
	if err != nil || claim.Delivered {
		return seq, err
	}
	m.Seq, m.At, m.ExpiresAt = seq, claim.SentAt, claim.SentAt.Add(d.Retention)
	if !created && !m.Until.IsZero() {
		// A retry: the mute's end is the first attempt's.
		m.Until = claim.SentAt.Add(m.Until.Sub(now))
	}
	for range maxRenumber {
		err := store.PutModeration(ctx, m)
		if errors.Is(err, chat.ErrConflict) {
			if m.Seq, err = d.renumber(ctx, key, m.Seq); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		return m.Seq, d.fanOut(ctx, key, budget, m.Channel, m.Seq, chat.Audience{}, protocol.Moderation{Channel: m.Channel, ModerationEntry: moderationEntry(m)})
	}
	return 0, fmt.Errorf("moderate: seq settled %d times in a row: %w", maxRenumber, chat.ErrUnavailable)
}

// moderationEntry is a stored moderation action's wire entry.
func moderationEntry(m chat.Moderation) protocol.ModerationEntry {
	e := protocol.ModerationEntry{Seq: m.Seq, Op: m.Op, UserID: m.Subject.UserID, UserName: m.Subject.UserName,
		ByID: m.UserID, ByName: m.UserName, From: m.From, Role: m.Role, Reason: m.Reason, ClientID: m.ClientID, At: m.At.UTC()}
	if !m.Until.IsZero() {
		u := m.Until.UTC()
		e.Until = &u
	}
	return e
}

// moderateAction serves moderate: an owner or moderator of the channel,
// joined to it, moderates a user of a lower role (only owners set roles,
// and only up to moderator).
type moderateAction struct {
	store   ModerationStore
	replier replier
	mod     *Moderator
}

func (h *moderateAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Moderate)
	if _, err := requireMember(ctx, h.store, rq, r.Channel); err != nil {
		return err
	}
	if err := h.check(ctx, rq, r); err != nil {
		return err
	}
	seq, _, _, err := h.mod.Apply(ctx, ModerationPost{Channel: r.Channel, Op: r.Op, Subject: r.UserID, Seconds: r.Seconds,
		Role: r.Role, Reason: r.Reason, Caller: rq.UserID, Identity: rq.Identity, ClientID: r.ClientID, Now: rq.Now, Budget: rq.Budget})
	if err != nil {
		return err
	}
	h.mod.Log.LogAttrs(ctx, slog.LevelInfo, "moderated", slog.String("channel", r.Channel), slog.String("op", r.Op),
		slog.String("userId", rq.UserID), slog.String("subject", r.UserID), slog.Int64("seq", seq))
	return h.replier.reply(ctx, rq, protocol.Ack{Action: wire.ActionModerate, Channel: r.Channel, ClientID: r.ClientID, Seq: seq})
}

// check decides whether the requester may apply r: its standing in the
// channel must moderate, and rank above the subject's (and, for a role,
// be an owner's, giving at most moderator). Two GetItem.
func (h *moderateAction) check(ctx context.Context, rq *request, r *protocol.Moderate) error {
	if r.UserID == rq.UserID {
		return protocol.Errorf(protocol.CodeInvalidField, "", "you cannot moderate yourself")
	}
	me, err := h.store.Standing(ctx, r.Channel, rq.UserID)
	if err != nil {
		return err
	}
	if !me.Moderates() {
		return protocol.Errorf(protocol.CodeForbidden, "", "only an owner or a moderator of %s may %s; you are a member", r.Channel, r.Op)
	}
	if r.Op == wire.ModRole && (me.Rank() < wire.RoleRank(wire.RoleOwner) || wire.RoleRank(r.Role) >= wire.RoleRank(wire.RoleOwner)) {
		return protocol.Errorf(protocol.CodeForbidden, "", "only an owner of %s may set roles, and only member or moderator (owners are a backend's to name)", r.Channel)
	}
	them, err := h.store.Standing(ctx, r.Channel, r.UserID)
	if err != nil {
		return err
	}
	if them.Rank() >= me.Rank() {
		return protocol.Errorf(protocol.CodeForbidden, "", "%s is a %s of %s: you may moderate only users of a lower role", r.UserID, roleName(them.Role), r.Channel)
	}
	return nil
}

func roleName(role string) string {
	if role == "" {
		return wire.RoleMember
	}
	return role
}
