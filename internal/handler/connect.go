package handler

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wschat/internal/chat"
	"wschat/internal/contract"
	"wschat/internal/logging"
)

// ConnectStore is what the $connect handler writes.
type ConnectStore interface {
	PutConnection(ctx context.Context, c chat.Connection) error
	// PutUserConnection indexes the connection under its user, so a backend
	// can notify or disconnect every connection of a user with one Query.
	PutUserConnection(ctx context.Context, c chat.Connection) error
}

// Connect serves $connect: it registers the connection with the
// identity the authorizer established and accepts the upgrade.
type Connect struct {
	store ConnectStore
	log   *slog.Logger
	now   func() time.Time
}

// NewConnect returns the $connect handler.
func NewConnect(store ConnectStore, log *slog.Logger) *Connect {
	return &Connect{store: store, log: log, now: time.Now}
}

// Handle accepts (200) or refuses the connection. When the client offered
// the wschat.v1 subprotocol (possibly next to a token), the response selects
// it, as browsers require.
func (h *Connect) Handle(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rq, err := newRequest(ev, h.now(), nil)
	ctx = rq.logContext(ctx)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "connect refused", logging.Err(err))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusForbidden}, nil
	}
	c := chat.Connection{
		ID:          rq.ConnectionID,
		Identity:    rq.Identity,
		ConnectedAt: rq.Now,
		ExpiresAt:   rq.Now.Add(chat.ConnectionTTL),
	}
	// The connection item first: the index entry is only useful once the
	// connection exists, and a refused upgrade leaves at most an entry that
	// expires with the connection's TTL (and whose posts answer 410).
	if err := h.store.PutConnection(ctx, c); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "connect failed", logging.Err(err))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	if err := h.store.PutUserConnection(ctx, c); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "connect failed", logging.Err(err))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "connected", slog.String("userId", rq.UserID))
	resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	if offersSubprotocol(header(ev, "Sec-WebSocket-Protocol")) {
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
