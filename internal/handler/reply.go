package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
)

// replier posts events to the connection that made the request.
type replier struct {
	poster chat.Poster
	log    *slog.Logger
}

// reply posts e to the requester. A requester that is already gone is not
// an error: its $disconnect cleans up.
func (r replier) reply(ctx context.Context, rq *request, e protocol.Event) error {
	frame, err := protocol.Encode(e)
	if err != nil {
		return fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	if err := r.poster.Post(ctx, rq.ConnectionID, frame); err != nil {
		if errors.Is(err, chat.ErrGone) {
			r.log.LogAttrs(ctx, slog.LevelDebug, "requester gone", slog.String("event", e.EventType()))
			return nil
		}
		return fmt.Errorf("reply %s: %w", e.EventType(), err)
	}
	return nil
}

// encodeFrame encodes an event for a broadcast.
func encodeFrame(e protocol.Event) ([]byte, error) {
	frame, err := protocol.Encode(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	return frame, nil
}
