package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wschat/internal/protocol"
)

// DisconnectStore is what the $disconnect handler removes.
type DisconnectStore interface {
	RemoveConnection(ctx context.Context, id string, alsoChannels ...string) (Connection, error)
}

// DisconnectHandler serves $disconnect: it removes the connection and its
// memberships and tells each channel the connection left. API Gateway calls
// it at most once and best effort, hence the TTLs and the fan-out's 410
// cleanup behind it.
type DisconnectHandler struct {
	store       DisconnectStore
	broadcaster Broadcaster
	sendBudget  int
	log         *slog.Logger
	now         func() time.Time
}

// NewDisconnectHandler returns the $disconnect handler; sendBudget is
// Config.SendBudget.
func NewDisconnectHandler(store DisconnectStore, b Broadcaster, sendBudget int, log *slog.Logger) *DisconnectHandler {
	return &DisconnectHandler{store: store, broadcaster: b, sendBudget: sendBudget, log: log, now: time.Now}
}

// Handle removes the connection. Repeating it is harmless.
func (h *DisconnectHandler) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	ok := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	inv, _ := newInvocation(req, h.now(), NewBudget(h.sendBudget)) // the identity is read from the store
	ctx = inv.logContext(ctx)
	if inv.ConnectionID == "" {
		h.log.LogAttrs(ctx, slog.LevelWarn, "disconnect without connectionId")
		return ok, nil
	}
	conn, err := h.store.RemoveConnection(ctx, inv.ConnectionID)
	if errors.Is(err, ErrNotFound) {
		h.log.LogAttrs(ctx, slog.LevelInfo, "disconnected", slog.Int("channels", 0))
		return ok, nil
	}
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "disconnect failed", slog.String("error", err.Error()))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	var errs []error
	for _, ch := range conn.Channels {
		frame, err := encodeFrame(protocol.Left{Channel: ch, UserID: conn.UserID, UserName: conn.UserName, At: inv.Now})
		if err == nil {
			_, err = h.broadcaster.Broadcast(ctx, inv.Budget, ch, frame)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("announce leaving %s: %w", ch, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		// The connection is gone already; only presence suffered.
		h.log.LogAttrs(ctx, slog.LevelWarn, "disconnect announcement failed", slog.String("error", err.Error()))
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "disconnected", slog.Int("channels", len(conn.Channels)))
	return ok, nil
}
