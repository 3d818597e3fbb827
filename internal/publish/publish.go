// Package publish serves the publish function: the HTTP API routes through
// which a backend, signed with its own IAM identity, posts a message to a
// channel, sends a notice to every connection of a user, or disconnects a
// user, and manages who may use what: private channels' member lists and
// revocations (docs/publish.md).
//
// API Gateway has verified the caller's SigV4 signature (every route is
// AWS_IAM) before the function runs; the function reads the caller's
// principal from requestContext.authorizer.iam and maps it to a display
// name. A channel message goes through handler.Deliverer, the same claim,
// seq, history and fan-out path as a WebSocket send.
package publish

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire"
)

// Store is what the publish routes read and write besides the message path.
type Store interface {
	handler.MessageStore
	AccessStore
	handler.ModerationStore
	ConnectionsOfUser(ctx context.Context, userID string) ([]chat.Connection, error)
	// RemoveConnection cleans up a connection that @connections says is gone.
	RemoveConnection(ctx context.Context, id string, alsoChannels ...string) (chat.Connection, error)
	// PutNotice records a notice for integrations (Config.RecordNotices).
	PutNotice(ctx context.Context, n chat.NoticeSent) error
}

// Connections posts to and closes connections (the @connections client).
type Connections interface {
	Post(ctx context.Context, connectionID string, frame []byte) error
	Delete(ctx context.Context, connectionID string) error
}

// Config is the publish function's settings.
type Config struct {
	// Names maps principal ARNs (role or user) to display names.
	Names map[string]string
	// Retention is how long a published message stays in history.
	Retention time.Duration
	// SendBudget bounds the @connections posts of one request (0: unlimited).
	SendBudget int
	// PresenceMaxMembers: above it, a removal's "left" is not broadcast
	// (handler.PresenceGate).
	PresenceMaxMembers int
	// ChannelRate is the chat settings' per-channel delivery rate: a
	// backend's message counts towards its channel's like a user's.
	ChannelRate float64
	// RecordNotices writes a record of each notice to the table, which the
	// stream turns into a user.notified event (on where events are).
	RecordNotices bool
}

// Handler serves the three publish routes.
type Handler struct {
	cfg     Config
	store   Store
	access  AccessStore
	conns   Connections
	deliver *handler.Deliverer
	log     *slog.Logger
	meter   handler.Meter
	now     func() time.Time
}

// New returns the publish handler. The Deliverer must share store.
func New(cfg Config, store Store, conns Connections, b chat.Broadcaster, log *slog.Logger, meter handler.Meter) *Handler {
	if meter == nil {
		meter = (*metrics.Emitter)(nil)
	}
	return &Handler{
		cfg:     cfg,
		store:   store,
		access:  store,
		conns:   conns,
		deliver: &handler.Deliverer{Store: store, Broadcaster: b, Retention: cfg.Retention, Log: log, Meter: meter, ChannelRate: cfg.ChannelRate},
		log:     log,
		meter:   meter,
		now:     time.Now,
	}
}

// SetClock replaces the clock (tests).
func (h *Handler) SetClock(now func() time.Time) { h.now = now }

// errorBody is every error answer: {"code": ..., "message": ...}.
type errorBody = wire.ErrorBody

// Handle serves one request. Client mistakes are 4xx answers, never
// function errors; an unexpected failure is logged once and answered 500
// (or 503 when worth retrying), still with a JSON body.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	ctx = logging.WithAttrs(ctx, slog.String("requestId", ev.RequestContext.RequestID), slog.String("routeKey", ev.RouteKey))
	// One line per request: the broadcast's, carrying the request's metrics.
	ctx = metrics.WithBatch(ctx)
	defer h.meter.Flush(ctx)
	caller, ok := callerOf(ev)
	if !ok {
		// Only reachable if a route lost its AWS_IAM authorization.
		return respond(http.StatusForbidden, errorBody{Code: wire.CodeForbidden, Message: "the request carries no IAM identity"}), nil
	}
	var (
		resp any
		err  error
	)
	switch ev.RouteKey {
	case contract.PublishRouteChannelMessage:
		resp, err = h.publish(ctx, ev, caller)
	case contract.PublishRouteUserMessage:
		resp, err = h.notify(ctx, ev, caller)
	case contract.PublishRouteUserConnections:
		resp, err = h.disconnect(ctx, ev, caller)
	case contract.PublishRoutePrivateChannel:
		resp, err = h.createPrivate(ctx, ev)
	case contract.PublishRouteAddMember:
		resp, err = h.addMember(ctx, ev)
	case contract.PublishRouteRemoveMember:
		resp, err = h.removeMember(ctx, ev)
	case contract.PublishRouteListMembers:
		resp, err = h.listMembers(ctx, ev)
	case contract.PublishRouteRevoke:
		resp, err = h.revoke(ctx, ev)
	case contract.PublishRouteModerate:
		resp, err = h.moderate(ctx, ev, caller)
	default:
		return respond(http.StatusNotFound, errorBody{Code: wire.CodeNotFound, Message: "no route " + quote(ev.RouteKey)}), nil
	}
	if err == nil {
		return respond(http.StatusOK, resp), nil
	}
	return h.fail(ctx, err), nil
}

func (h *Handler) fail(ctx context.Context, err error) events.APIGatewayV2HTTPResponse {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		status := http.StatusBadRequest
		switch perr.Code {
		case protocol.CodeTooLarge:
			status = http.StatusRequestEntityTooLarge
		case protocol.CodeNotFound:
			status = http.StatusNotFound
		case protocol.CodeConflict:
			status = http.StatusConflict
		case protocol.CodeRateLimited:
			status = http.StatusTooManyRequests
		}
		h.logRequest(ctx, slog.LevelInfo, "request refused", slog.String("code", string(perr.Code)), slog.String("reason", perr.Message))
		return respond(status, errorBody{Code: perr.Code, Message: perr.Message})
	}
	h.logRequest(ctx, slog.LevelError, "publish failed", logging.Err(err))
	if errors.Is(err, chat.ErrUnavailable) {
		return respond(http.StatusServiceUnavailable, errorBody{Code: wire.CodeUnavailable, Message: "temporarily unavailable; retry with the same id"})
	}
	return respond(http.StatusInternalServerError, errorBody{Code: wire.CodeInternal, Message: "internal error; retry with the same id"})
}

// logRequest writes the request's line, with the metrics it recorded.
func (h *Handler) logRequest(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if h.log.Enabled(ctx, level) {
		h.log.LogAttrs(ctx, level, msg, append(attrs, h.meter.Attrs(ctx)...)...)
	}
}

// caller is the IAM principal of a request.
type caller struct {
	principal string // the role or user ARN: sessions of one role are one caller
}

func callerOf(ev events.APIGatewayV2HTTPRequest) (caller, bool) {
	a := ev.RequestContext.Authorizer
	if a == nil || a.IAM == nil || a.IAM.UserARN == "" {
		return caller{}, false
	}
	p := principalOf(a.IAM.UserARN)
	return caller{principal: p}, p != "" && !strings.Contains(p, "#")
}

// principalOf normalizes a caller ARN: an assumed-role session
// (arn:aws:sts::123:assumed-role/Role/session) becomes its role
// (arn:aws:iam::123:role/Role), so every session of a service is one caller
// for idempotency and one entry in the names map.
func principalOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	if parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/") {
		role, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
		return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role
	}
	return arn
}

// displayName is the configured name of a principal, else the last segment
// of its ARN (the role or user name).
func (h *Handler) displayName(principal string) string {
	if n := h.cfg.Names[principal]; n != "" {
		return n
	}
	return principal[strings.LastIndexAny(principal, "/:")+1:]
}

func respond(status int, body any) events.APIGatewayV2HTTPResponse {
	data, err := json.Marshal(body)
	if err != nil { // cannot happen for the answer types here
		status, data = http.StatusInternalServerError, []byte(`{"code":"internal","message":"encode answer"}`)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(data),
	}
}

// body returns the request body, decoding base64 (API Gateway encodes a
// body it does not consider text).
func body(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if !ev.IsBase64Encoded {
		return []byte(ev.Body), nil
	}
	data, err := base64.StdEncoding.DecodeString(ev.Body)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidJSON, "", "body is not valid base64")
	}
	return data, nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}
