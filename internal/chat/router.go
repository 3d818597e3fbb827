package chat

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wschat/internal/contract"
	"wschat/internal/metrics"
	"wschat/internal/protocol"
)

// Meter records metrics (a *metrics.Emitter).
type Meter interface {
	Emit(values ...metrics.Value)
}

// RateLimiter spends one token of a connection's rate limit.
type RateLimiter interface {
	TakeToken(ctx context.Context, connID string, perSecond float64, burst int) (bool, error)
}

// ChatStore is everything the chat function's actions use; *dynamo.Store
// implements it.
type ChatStore interface {
	RateLimiter
	JoinStore
	LeaveStore
	SendStore
	HistoryStore
	MembersStore
}

// action serves one decoded request. It returns a *protocol.Error for a
// client mistake, any other error for a failure.
type action interface {
	serve(ctx context.Context, inv *invocation, req protocol.Request) error
}

// ChatHandler serves every action route (join, leave, send, history,
// members, ping) and $default of the chat function: it decodes the frame,
// applies the connection's rate limit and dispatches to the action's
// handler. Client mistakes become an error event to the sender and a 200;
// failures are logged once, here, answered with an "internal" error event
// and returned.
type ChatHandler struct {
	cfg     Config
	limiter RateLimiter
	replier replier
	log     *slog.Logger
	meter   Meter
	now     func() time.Time
	actions map[string]action
}

// NewChatHandler returns the chat function's handler. b broadcasts (and
// spends the per-invocation budget); p replies to the sender.
func NewChatHandler(cfg Config, store ChatStore, b Broadcaster, p Poster, log *slog.Logger, meter Meter) *ChatHandler {
	if meter == nil {
		meter = (*metrics.Emitter)(nil)
	}
	r := replier{poster: p, log: log}
	h := &ChatHandler{cfg: cfg, limiter: store, replier: r, log: log, meter: meter, now: time.Now}
	h.actions = map[string]action{
		contract.ActionJoin:    &joinHandler{store: store, broadcaster: b, replier: r, maxChannels: cfg.MaxChannels},
		contract.ActionLeave:   &leaveHandler{store: store, broadcaster: b, replier: r},
		contract.ActionSend:    &sendHandler{store: store, broadcaster: b, replier: r, retention: cfg.HistoryRetention, log: log, meter: meter},
		contract.ActionHistory: &historyHandler{store: store, replier: r},
		contract.ActionMembers: &membersHandler{store: store, replier: r},
		contract.ActionPing:    &pingHandler{replier: r},
	}
	return h
}

// Handle serves one frame.
func (h *ChatHandler) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	inv, err := newInvocation(req, h.now(), NewBudget(h.cfg.SendBudget))
	ctx = inv.logContext(ctx)
	if inv.ConnectionID == "" {
		// Not from API Gateway's WebSocket side: there is no one to answer.
		h.log.LogAttrs(ctx, slog.LevelWarn, "request without connectionId")
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}, nil
	}
	if err != nil {
		err = protocol.Errorf(protocol.CodeUnauthorized, "", "connection has no usable identity")
	} else {
		err = h.serve(ctx, inv, req)
	}
	var perr *protocol.Error
	if errors.As(err, &perr) {
		h.log.LogAttrs(ctx, slog.LevelInfo, "request rejected",
			slog.String("action", perr.Action), slog.String("code", string(perr.Code)), slog.String("reason", perr.Message))
		if rerr := h.replier.reply(ctx, inv, h.errorEvent(inv, perr)); rerr != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "error event not delivered", slog.String("error", rerr.Error()))
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("error", err.Error()))
		internal := protocol.Errorf(protocol.CodeInternal, "", "the server failed; retry later")
		_ = h.replier.reply(ctx, inv, h.errorEvent(inv, internal))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

func (h *ChatHandler) errorEvent(inv *invocation, e *protocol.Error) protocol.ErrorEvent {
	return protocol.ErrorEvent{Code: e.Code, Message: e.Message, Action: e.Action, RequestID: inv.RequestID}
}

func (h *ChatHandler) serve(ctx context.Context, inv *invocation, req events.APIGatewayWebsocketProxyRequest) error {
	if req.IsBase64Encoded {
		// API Gateway routes binary frames to $default, base64-encoded.
		return protocol.Errorf(protocol.CodeInvalidJSON, "", "binary frames are not supported; send JSON text frames")
	}
	r, err := protocol.Decode([]byte(req.Body))
	if err != nil {
		return err
	}
	var perr *protocol.Error
	if err := h.limit(ctx, inv, r.Action()); err != nil {
		if errors.As(err, &perr) && perr.Action == "" {
			perr.Action = r.Action()
		}
		return err
	}
	err = h.actions[r.Action()].serve(ctx, inv, r)
	if errors.As(err, &perr) && perr.Action == "" {
		perr.Action = r.Action()
	}
	return err
}

// limit spends a token of the connection's rate limit. ping is exempt: it
// keeps the connection open and costs no storage.
func (h *ChatHandler) limit(ctx context.Context, inv *invocation, action string) error {
	if action == contract.ActionPing || h.cfg.RatePerSecond <= 0 {
		return nil
	}
	ok, err := h.limiter.TakeToken(ctx, inv.ConnectionID, h.cfg.RatePerSecond, h.cfg.RateBurst)
	switch {
	case errors.Is(err, ErrNotFound):
		return errNotRegistered()
	case err != nil:
		return err
	case !ok:
		h.meter.Emit(metrics.Value{Name: contract.MetricRateLimited, Unit: metrics.Count, Value: 1})
		return protocol.Errorf(protocol.CodeRateLimited, "", "more than %g requests per second (burst %d); slow down", h.cfg.RatePerSecond, h.cfg.RateBurst)
	}
	return nil
}

// errNotRegistered answers requests on a connection the store does not know
// (expired, or removed after a failed post).
func errNotRegistered() *protocol.Error {
	return protocol.Errorf(protocol.CodeUnauthorized, "", "connection is not registered; reconnect")
}
