package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/protocol"
)

// Typing and read state are signals beside the channel's stream: neither
// takes a seq. Typing is not stored at all; the read state is one item per
// user and channel (dynamo/userchannels.go).

// typingAction serves typing: broadcast to the channel's members unless
// the channel is above the presence size (the same rule as joined/left),
// at most once per protocol.TypingInterval per user and channel. It
// answers nothing on success (a typing indicator needs no receipt) and
// costs no write: the throttle is in the instance's memory, like the
// frame limiter.
type typingAction struct {
	store       MemberChecker
	broadcaster chat.Broadcaster
	presence    presenceRule
	throttle    *typingThrottle
}

func (h *typingAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Typing)
	m, err := requireAccess(ctx, h.store, rq, r.Channel, chat.RightRead)
	if err != nil {
		return err
	}
	if err := requireVoice(rq, m); err != nil {
		return err
	}
	if !h.throttle.allow(rq.UserID+"\x00"+r.Channel, rq.Now) {
		return protocol.Errorf(protocol.CodeRateLimited, "", "typing: at most one per %s per channel; the indicator lasts %s",
			protocol.TypingInterval, protocol.TypingExpiry)
	}
	if _, quiet, err := h.presence.quiet(ctx, r.Channel); err != nil || quiet {
		return err
	}
	frame, err := encodeFrame(protocol.TypingEvent{Channel: r.Channel, UserID: rq.UserID, UserName: rq.UserName, At: rq.Now,
		ExpiresIn: protocol.TypingExpiry.Milliseconds()})
	if err != nil {
		return err
	}
	if _, err := h.broadcaster.Broadcast(ctx, rq.Budget, r.Channel, frame); err != nil {
		return fmt.Errorf("typing: %w", err)
	}
	return nil
}

// typingThrottle remembers when each user last typed in each channel.
type typingThrottle struct {
	mu    sync.Mutex
	last  map[string]time.Time
	every time.Duration
}

func newTypingThrottle(every time.Duration) *typingThrottle {
	return &typingThrottle{last: map[string]time.Time{}, every: every}
}

// maxTypingEntries bounds the throttle's memory: past it, entries older
// than the interval (which no longer throttle anything) are dropped.
const maxTypingEntries = 10_000

func (t *typingThrottle) allow(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.last[key]; ok && now.Sub(at) < t.every {
		return false
	}
	if len(t.last) >= maxTypingEntries {
		for k, at := range t.last {
			if now.Sub(at) >= t.every {
				delete(t.last, k)
			}
		}
	}
	t.last[key] = now
	return true
}

// ReadStore is what read writes and reads.
type ReadStore interface {
	MemberChecker
	LastSeq(ctx context.Context, channel string) (int64, error)
	MarkRead(ctx context.Context, userID, channel string, seq int64) (int64, bool, error)
	ConnectionsOfUser(ctx context.Context, userID string) ([]chat.Connection, error)
}

// readAction serves read: the user's last-read seq of the channel, raised
// (never lowered) and shared by all the user's connections. When it rises,
// the user's other connections get a "read" event (their unread counts
// follow), and so do the members of a channel within the presence size
// (read receipts); the requester always gets one, with the seq now stored.
type readAction struct {
	store       ReadStore
	broadcaster chat.Broadcaster
	replier     replier
	presence    presenceRule
	poster      chat.Poster
	log         *slog.Logger
}

func (h *readAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Read)
	if _, err := requireAccess(ctx, h.store, rq, r.Channel, chat.RightRead); err != nil {
		return err
	}
	last, err := h.store.LastSeq(ctx, r.Channel)
	if err != nil {
		return err
	}
	if r.Seq > last {
		return protocol.Errorf(protocol.CodeInvalidField, "", "seq %d is beyond the last seq of %s (%d)", r.Seq, r.Channel, last)
	}
	seq, raised, err := h.store.MarkRead(ctx, rq.UserID, r.Channel, r.Seq)
	if err != nil {
		return err
	}
	ev := protocol.ReadEvent{Channel: r.Channel, UserID: rq.UserID, UserName: rq.UserName, Seq: seq, At: rq.Now}
	if !raised {
		return h.replier.reply(ctx, rq, ev)
	}
	frame, err := encodeFrame(ev)
	if err != nil {
		return err
	}
	_, quiet, err := h.presence.quiet(ctx, r.Channel)
	if err != nil {
		return err
	}
	if quiet {
		if err := h.replier.reply(ctx, rq, ev); err != nil {
			return err
		}
	} else if _, err := h.broadcaster.Broadcast(ctx, rq.Budget, r.Channel, frame); err != nil {
		return fmt.Errorf("read receipt: %w", err)
	}
	h.toOwnConnections(ctx, rq, frame)
	return nil
}

// toOwnConnections posts frame to the requester's other connections (its
// other tabs and devices), which may not have joined the channel. A
// failure is logged, not returned: the read is stored, and a connection
// reads it again with its next join or channels.
func (h *readAction) toOwnConnections(ctx context.Context, rq *request, frame []byte) {
	conns, err := h.store.ConnectionsOfUser(ctx, rq.UserID)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "read: connections of user not read", logging.Err(err))
		return
	}
	for _, c := range conns {
		if c.ID == rq.ConnectionID || !rq.Budget.Take() {
			continue
		}
		if err := h.poster.Post(ctx, c.ID, frame); err != nil && !errors.Is(err, chat.ErrGone) {
			h.log.LogAttrs(ctx, slog.LevelWarn, "read: post to own connection failed", logging.Err(err))
		}
	}
}

// ChannelsStore is what channels reads.
type ChannelsStore interface {
	UserChannels(ctx context.Context, userID string) ([]chat.UserChannel, error)
	ListedChannels(ctx context.Context, userID string) ([]chat.ListedChannel, error)
	ChannelInfoReader
	ChannelSummary(ctx context.Context, channel, userID string, lastRead int64, previewRunes int) (chat.ChannelSummary, error)
}

// channelsAction serves channels: the user's channel list (the public
// channels it joined on any device and did not leave, that its token still
// lets it read, and every private channel and direct message whose member
// list names it) with last seq, last-read seq, unread count and the last
// message; a direct message with the other user's id and name.
type channelsAction struct {
	store   ChannelsStore
	replier replier
}

// channelsWorkers bounds the channel summaries read at once.
const channelsWorkers = 8

// listEntry is one channel of the list before its summary is read.
type listEntry struct {
	chat.UserChannel
	// listed: the user's own index of private channels and direct
	// messages names it (so it is on the member list); otherwise the
	// channel's item is read to tell a public channel from a private one
	// the user is no longer on.
	listed bool
	peer   *chat.Identity
}

// channelEntries merges the user's joined channels with the private
// channels and direct messages it is listed on, in channel name order.
func (h *channelsAction) channelEntries(ctx context.Context, rq *request) ([]listEntry, error) {
	ucs, err := h.store.UserChannels(ctx, rq.UserID)
	if err != nil {
		return nil, err
	}
	listed, err := h.store.ListedChannels(ctx, rq.UserID)
	if err != nil {
		return nil, err
	}
	byName := map[string]*listEntry{}
	var out []*listEntry
	for _, l := range listed {
		e := &listEntry{UserChannel: chat.UserChannel{Channel: l.Channel}, listed: true}
		if l.Direct {
			e.peer = &l.Peer
		}
		byName[l.Channel] = e
		out = append(out, e)
	}
	for _, uc := range ucs {
		if e, ok := byName[uc.Channel]; ok {
			e.LastRead = uc.LastRead
			continue
		}
		// A direct message not on the user's index is not the user's; a
		// public channel needs the token's r.
		if !chat.IsDirect(uc.Channel) && rq.Caps.Allows(uc.Channel, chat.RightRead) {
			out = append(out, &listEntry{UserChannel: uc})
		}
	}
	slices.SortFunc(out, func(a, b *listEntry) int { return strings.Compare(a.Channel, b.Channel) })
	entries := make([]listEntry, len(out))
	for i, e := range out {
		entries[i] = *e
	}
	return entries, nil
}

// summarize reads one entry's summary; private is true for a channel that
// turned out private without the user on its list (left out).
func (h *channelsAction) summarize(ctx context.Context, rq *request, e listEntry) (info protocol.ChannelInfo, private bool, err error) {
	if !e.listed {
		ci, err := h.store.ChannelInfo(ctx, e.Channel)
		if err != nil || ci.Private {
			return info, ci.Private, err
		}
	}
	sum, err := h.store.ChannelSummary(ctx, e.Channel, rq.UserID, e.LastRead, protocol.MaxPreviewRunes)
	if err != nil {
		return info, false, err
	}
	info = protocol.ChannelInfo{Channel: e.Channel, LastSeq: sum.LastSeq, LastRead: e.LastRead,
		Unread: sum.Unread, UnreadMore: sum.UnreadMore, Private: e.listed}
	if e.peer != nil {
		info.PeerID, info.PeerName = e.peer.UserID, e.peer.UserName
	}
	if sum.Last != nil {
		entry := entryOf(*sum.Last)
		info.Last = &entry
	}
	return info, false, nil
}

func (h *channelsAction) serve(ctx context.Context, rq *request, _ protocol.Request) error {
	mine, err := h.channelEntries(ctx, rq)
	if err != nil {
		return err
	}
	infos := make([]protocol.ChannelInfo, len(mine))
	drop := make([]bool, len(mine))
	errs := make([]error, len(mine))
	var wg sync.WaitGroup
	sem := make(chan struct{}, channelsWorkers)
	for i, e := range mine {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			infos[i], drop[i], errs[i] = h.summarize(ctx, rq, e)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	kept := infos[:0]
	for i, info := range infos {
		if !drop[i] {
			kept = append(kept, info)
		}
	}
	infos = kept
	list := protocol.ChannelList{Channels: infos}
	for {
		// A list of many channels with long previews may not fit one
		// frame: the last channels (in name order) are left out.
		b, err := protocol.Encode(list)
		if err != nil {
			return err
		}
		if len(b) <= historyFrameBudget || len(list.Channels) == 0 {
			break
		}
		list.Channels = list.Channels[:len(list.Channels)*9/10]
	}
	return h.replier.reply(ctx, rq, list)
}
