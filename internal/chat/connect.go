package chat

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wschat/internal/contract"
)

// ConnectStore is what the $connect handler writes.
type ConnectStore interface {
	PutConnection(ctx context.Context, c Connection) error
}

// ConnectHandler serves $connect: it registers the connection with the
// identity the authorizer established and accepts the upgrade.
type ConnectHandler struct {
	store ConnectStore
	log   *slog.Logger
	now   func() time.Time
}

// NewConnectHandler returns the $connect handler.
func NewConnectHandler(store ConnectStore, log *slog.Logger) *ConnectHandler {
	return &ConnectHandler{store: store, log: log, now: time.Now}
}

// Handle accepts (200) or refuses the connection. When the client offered
// the wschat.v1 subprotocol (possibly next to a token), the response selects
// it, as browsers require.
func (h *ConnectHandler) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	inv, err := newInvocation(req, h.now(), nil)
	ctx = inv.logContext(ctx)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "connect refused", slog.String("error", err.Error()))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusForbidden}, nil
	}
	c := Connection{
		ID:          inv.ConnectionID,
		Identity:    inv.Identity,
		ConnectedAt: inv.Now,
		ExpiresAt:   inv.Now.Add(ConnectionTTL),
	}
	if err := h.store.PutConnection(ctx, c); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "connect failed", slog.String("error", err.Error()))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "connected", slog.String("userId", inv.UserID))
	resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	if offersSubprotocol(header(req, "Sec-WebSocket-Protocol")) {
		resp.Headers = map[string]string{"Sec-WebSocket-Protocol": contract.SubprotocolName}
	}
	return resp, nil
}

// offersSubprotocol reports whether a Sec-WebSocket-Protocol list names
// contract.SubprotocolName. The other entry may be a token: it is never
// returned or logged.
func offersSubprotocol(list string) bool {
	for p := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(p) == contract.SubprotocolName {
			return true
		}
	}
	return false
}
