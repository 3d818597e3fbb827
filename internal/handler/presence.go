package handler

import (
	"context"
	"fmt"

	"github.com/wschat/wschat/internal/chat"
)

// ChannelSizer reads a channel's member count (dynamo.Store.ChannelSize).
type ChannelSizer interface {
	ChannelSize(ctx context.Context, channel string) (members int64, shards int, err error)
}

// presenceRule decides whether a join or leave is broadcast. Filling a
// channel is quadratic when every join posts "joined" to every member (1,000
// joins made ~500,000 posts, 80 s on the emulator; 10,000 would be 50
// million), so above max members presence events go only to the connection
// that joined or left, with the channel's member count; members page the
// list with the members action instead.
type presenceRule struct {
	sizer ChannelSizer // nil: always broadcast
	max   int          // 0: always broadcast
}

// quiet reports whether channel is above the rule's size, and its count.
func (p presenceRule) quiet(ctx context.Context, channel string) (count int64, quiet bool, err error) {
	if p.sizer == nil || p.max <= 0 {
		return 0, false, nil
	}
	count, _, err = p.sizer.ChannelSize(ctx, channel)
	if err != nil {
		return 0, false, fmt.Errorf("presence: %w", err)
	}
	return count, count > int64(p.max), nil
}

// presenceOf returns the rule for store: the chat store implements
// ChannelSizer when it is the DynamoDB store; a store without member counts
// keeps broadcasting every presence event.
func presenceOf(store any, max int) presenceRule {
	sizer, _ := store.(ChannelSizer)
	return presenceRule{sizer: sizer, max: max}
}

// PresenceGate is a Broadcaster for presence events only (the $disconnect
// handler's "left"): it broadcasts unless the channel has more than Max
// members (see presenceRule).
type PresenceGate struct {
	chat.Broadcaster
	Sizer ChannelSizer
	Max   int
}

// Broadcast broadcasts frame unless the channel is above the presence size.
func (g PresenceGate) Broadcast(ctx context.Context, budget *chat.Budget, channel string, frame []byte) (chat.FanoutStats, error) {
	_, quiet, err := presenceRule{sizer: g.Sizer, max: g.Max}.quiet(ctx, channel)
	if err != nil || quiet {
		return chat.FanoutStats{}, err
	}
	return g.Broadcaster.Broadcast(ctx, budget, channel, frame)
}
