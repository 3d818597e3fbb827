package handler

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/protocol"
)

// ConnectStore is what the $connect handler writes.
type ConnectStore interface {
	PutConnection(ctx context.Context, c chat.Connection) error
	PutUserConnection(ctx context.Context, c chat.Connection) error
	CountConnectionsOfUser(ctx context.Context, userID string) (int, error)
	RemoveConnection(ctx context.Context, id string, alsoChannels ...string) (chat.Connection, error)
	Connection(ctx context.Context, id string) (chat.Connection, error)
	Revoked(ctx context.Context, userID string) (time.Time, error)
	PutExpiry(ctx context.Context, connID string, until time.Time) error
}

// Connect serves $connect: it registers the connection with the
// identity the authorizer established and accepts the upgrade, unless the
// user already has the most live connections allowed.
type Connect struct {
	store   ConnectStore
	log     *slog.Logger
	meter   Meter
	now     func() time.Time
	maxConn int    // per user; 0: no cap
	closer  Closer // closes a connection the client replaces; nil: ignored
	grace   time.Duration
}

// NewConnect returns the $connect handler, with the per-user connection cap
// of cfg (Config.MaxConnectionsPerUser).
func NewConnect(cfg Config, store ConnectStore, log *slog.Logger, meter Meter) *Connect {
	if meter == nil {
		meter = (*metrics.Emitter)(nil)
	}
	return &Connect{store: store, log: log, meter: meter, now: time.Now, maxConn: cfg.MaxConnectionsPerUser, grace: cfg.TokenGrace}
}

// Handle accepts (200) or refuses the connection. When the client offered
// the wschat.v1 subprotocol (possibly next to a token), the response selects
// it, as browsers require.
func (h *Connect) Handle(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rq, err := newRequest(ev, h.now(), nil)
	ctx = rq.logContext(ctx)
	if err != nil {
		// The authorizer refuses such a token first; this is the same rule
		// for a context that reached us another way. The body says why (a
		// non-browser client can show it).
		h.log.LogAttrs(ctx, slog.LevelWarn, "connect refused", logging.Err(err))
		body, _ := protocol.Encode(protocol.ErrorEvent{Code: protocol.CodeForbidden, Message: "connection refused: " + err.Error()})
		return events.APIGatewayProxyResponse{StatusCode: http.StatusForbidden,
			Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}, nil
	}
	c := chat.Connection{
		ID:          rq.ConnectionID,
		Identity:    rq.Identity,
		ConnectedAt: rq.Now,
		ExpiresAt:   rq.Now.Add(chat.ConnectionTTL),
	}
	c.Capabilities, _ = channelsFromAuthorizer(ev.RequestContext.Authorizer)
	exp, iat := tokenTimes(ev.RequestContext.Authorizer)
	c.IssuedAt = iat
	if !exp.IsZero() {
		c.Until = exp.Add(h.grace)
		if !c.Until.After(rq.Now) {
			// The authorizer's leeway may admit a token the grace no
			// longer covers: it would be refused on its first request.
			return h.refuse(ctx, rq, http.StatusUnauthorized, errTokenExpired(), "token expired"), nil
		}
	}
	// The connection item first: the index entry is only useful once the
	// connection exists, and a refused upgrade leaves at most an entry that
	// expires with the connection's TTL (and whose posts answer 410).
	if err := h.store.PutConnection(ctx, c); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "connect failed", logging.Err(err))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	refused, err := h.overCap(ctx, c)
	if refused == nil && err == nil {
		refused, err = h.checkRevoked(ctx, rq, c)
	}
	// A grant that outlives the connection (API Gateway ends it at 2 h)
	// needs no entry: the connection's own expiry comes first.
	if refused == nil && err == nil && !c.Until.IsZero() && c.Until.Before(c.ExpiresAt) {
		err = h.store.PutExpiry(ctx, c.ID, c.Until)
	}
	if refused != nil || err != nil {
		if err != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "connect failed", logging.Err(err))
			return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
		}
		return *refused, nil
	}
	h.replace(ctx, rq, ev)
	h.log.LogAttrs(ctx, slog.LevelInfo, "connected", slog.String("userId", rq.UserID))
	resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	if offersSubprotocol(header(ev, "Sec-WebSocket-Protocol")) {
		resp.Headers = map[string]string{"Sec-WebSocket-Protocol": contract.SubprotocolName}
	}
	return resp, nil
}

// checkRevoked refuses (401, token_revoked) a token issued before the
// user's revocation. It runs after the connection is in the user's index,
// as a revocation stores its time before it closes the user's indexed
// connections: a connect racing with a revocation is seen by one or the
// other. It costs one strongly consistent read per connect.
func (h *Connect) checkRevoked(ctx context.Context, rq *request, c chat.Connection) (*events.APIGatewayProxyResponse, error) {
	if strings.HasPrefix(c.UserID, AnonymousPrefix) && c.IssuedAt.IsZero() {
		return nil, nil // no token: nothing to revoke
	}
	before, err := h.store.Revoked(ctx, c.UserID)
	if err != nil || !revokedBefore(c.IssuedAt, before) {
		return nil, err
	}
	if _, err := h.store.RemoveConnection(ctx, c.ID); err != nil {
		return nil, err
	}
	resp := h.refuse(ctx, rq, http.StatusUnauthorized, errTokenRevoked(before), "token revoked")
	return &resp, nil
}

// refuse answers a refused upgrade with status and an error frame as body
// (a browser only sees the handshake fail; other clients can show it).
func (h *Connect) refuse(ctx context.Context, rq *request, status int, perr *protocol.Error, why string) events.APIGatewayProxyResponse {
	h.log.LogAttrs(ctx, slog.LevelWarn, "connect refused: "+why, slog.String("userId", rq.UserID))
	body, _ := protocol.Encode(protocol.ErrorEvent{Code: perr.Code, Message: perr.Message})
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
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

// overCap records c in its user's index, then counts the user's live
// connections: over the cap, c is removed again and refused with 429.
// Registering before counting makes concurrent connects of one user on
// different instances see each other, so together they never exceed the
// cap (at worst both are refused and the client retries). Refusing the new
// connection, rather than closing the oldest, keeps a stolen or leaked
// token from kicking its owner's working sessions.
func (h *Connect) overCap(ctx context.Context, c chat.Connection) (*events.APIGatewayProxyResponse, error) {
	if err := h.store.PutUserConnection(ctx, c); err != nil {
		return nil, err
	}
	if h.maxConn <= 0 {
		return nil, nil
	}
	live, err := h.store.CountConnectionsOfUser(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	if live <= h.maxConn {
		return nil, nil
	}
	if _, err := h.store.RemoveConnection(ctx, c.ID); err != nil {
		return nil, err
	}
	h.meter.Record(ctx, metrics.Value{Name: contract.MetricConnectionsRefused, Unit: metrics.Count, Value: 1})
	h.log.LogAttrs(ctx, slog.LevelWarn, "connect refused: too many connections",
		slog.String("userId", c.UserID), slog.Int("live", live-1), slog.Int("max", h.maxConn))
	// The body is an error frame a non-browser client can show (a browser
	// only sees the handshake fail).
	body, err := protocol.Encode(protocol.ErrorEvent{Code: protocol.CodeRateLimited,
		Message: fmt.Sprintf("you already have %d open connections, the most allowed; close one first", h.maxConn)})
	if err != nil {
		return nil, err
	}
	return &events.APIGatewayProxyResponse{
		StatusCode: http.StatusTooManyRequests,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}, nil
}
