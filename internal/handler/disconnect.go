package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/protocol"
)

// DisconnectStore is what the $disconnect handler removes.
type DisconnectStore interface {
	RemoveConnection(ctx context.Context, id string, alsoChannels ...string) (chat.Connection, error)
}

// Disconnect serves $disconnect: it removes the connection and its
// memberships and tells each channel the connection left. API Gateway calls
// it at most once and best effort, hence the TTLs and the fan-out's 410
// cleanup behind it.
type Disconnect struct {
	store       DisconnectStore
	broadcaster chat.Broadcaster
	sendBudget  int
	log         *slog.Logger
	now         func() time.Time
}

// NewDisconnect returns the $disconnect handler; sendBudget is
// Config.SendBudget.
func NewDisconnect(store DisconnectStore, b chat.Broadcaster, sendBudget int, log *slog.Logger) *Disconnect {
	return &Disconnect{store: store, broadcaster: b, sendBudget: sendBudget, log: log, now: time.Now}
}

// Handle removes the connection. Repeating it is harmless.
func (h *Disconnect) Handle(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	ok := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	rq, _ := newRequest(ev, h.now(), chat.NewBudget(h.sendBudget)) // the identity is read from the store
	ctx = rq.logContext(ctx)
	if rq.ConnectionID == "" {
		h.log.LogAttrs(ctx, slog.LevelWarn, "disconnect without connectionId")
		return ok, nil
	}
	conn, err := h.store.RemoveConnection(ctx, rq.ConnectionID)
	if errors.Is(err, chat.ErrNotFound) {
		h.log.LogAttrs(ctx, slog.LevelInfo, "disconnected", slog.Int("channels", 0))
		return ok, nil
	}
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "disconnect failed", logging.Err(err))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	var errs []error
	for _, ch := range conn.Channels {
		frame, err := encodeFrame(protocol.Left{Channel: ch, UserID: conn.UserID, UserName: conn.UserName, At: rq.Now})
		if err == nil {
			_, err = h.broadcaster.Broadcast(ctx, rq.Budget, ch, frame)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("announce leaving %s: %w", ch, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		// The connection is gone already; only presence suffered.
		h.log.LogAttrs(ctx, slog.LevelWarn, "disconnect announcement failed", logging.Err(err))
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "disconnected", slog.Int("channels", len(conn.Channels)))
	return ok, nil
}
