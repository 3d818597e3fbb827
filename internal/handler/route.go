package handler

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wschat/internal/chat"
	"wschat/internal/contract"
	"wschat/internal/logging"
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
	serve(ctx context.Context, rq *request, in protocol.Request) error
}

// Chat serves every action route (join, leave, send, history,
// members, ping) and $default of the chat function: it decodes the frame,
// applies the connection's rate limit and dispatches to the action's
// handler. Client mistakes become an error event to the sender and a 200;
// failures are logged once, here, answered with an "internal" error event
// and returned.
type Chat struct {
	cfg     Config
	limiter RateLimiter
	replier replier
	log     *slog.Logger
	meter   Meter
	now     func() time.Time
	actions map[string]action
}

// NewChat returns the chat function's handler. b broadcasts (and
// spends the per-invocation budget); p replies to the sender.
func NewChat(cfg Config, store ChatStore, b chat.Broadcaster, p chat.Poster, log *slog.Logger, meter Meter) *Chat {
	if meter == nil {
		meter = (*metrics.Emitter)(nil)
	}
	r := replier{poster: p, log: log}
	h := &Chat{cfg: cfg, limiter: store, replier: r, log: log, meter: meter, now: time.Now}
	h.actions = map[string]action{
		contract.ActionJoin:    &joinAction{store: store, broadcaster: b, replier: r, maxChannels: cfg.MaxChannels},
		contract.ActionLeave:   &leaveAction{store: store, broadcaster: b, replier: r},
		contract.ActionSend:    &sendAction{store: store, replier: r, deliver: &Deliverer{Store: store, Broadcaster: b, Retention: cfg.HistoryRetention, Log: log, Meter: meter}},
		contract.ActionHistory: &historyAction{store: store, replier: r},
		contract.ActionMembers: &membersAction{store: store, replier: r},
		contract.ActionPing:    &pingAction{replier: r},
	}
	return h
}

// Handle serves one frame.
func (h *Chat) Handle(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rq, err := newRequest(ev, h.now(), chat.NewBudget(h.cfg.SendBudget))
	ctx = rq.logContext(ctx)
	if rq.ConnectionID == "" {
		// Not from API Gateway's WebSocket side: there is no one to answer.
		h.log.LogAttrs(ctx, slog.LevelWarn, "request without connectionId")
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}, nil
	}
	if err != nil {
		err = protocol.Errorf(protocol.CodeUnauthorized, "", "connection has no usable identity")
	} else {
		err = h.serve(ctx, rq, ev)
	}
	var perr *protocol.Error
	if errors.As(err, &perr) {
		h.log.LogAttrs(ctx, slog.LevelInfo, "request rejected",
			slog.String("action", perr.Action), slog.String("code", string(perr.Code)), slog.String("reason", perr.Message))
		if rerr := h.replier.reply(ctx, rq, h.errorEvent(rq, perr)); rerr != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "error event not delivered", logging.Err(rerr))
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "request failed", logging.Err(err))
		internal := protocol.Errorf(protocol.CodeInternal, "", "the server failed; retry later")
		_ = h.replier.reply(ctx, rq, h.errorEvent(rq, internal))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

func (h *Chat) errorEvent(rq *request, e *protocol.Error) protocol.ErrorEvent {
	return protocol.ErrorEvent{Code: e.Code, Message: e.Message, Action: e.Action, RequestID: rq.APIRequestID}
}

func (h *Chat) serve(ctx context.Context, rq *request, ev events.APIGatewayWebsocketProxyRequest) error {
	if ev.IsBase64Encoded {
		// API Gateway routes binary frames to $default, base64-encoded.
		return protocol.Errorf(protocol.CodeInvalidJSON, "", "binary frames are not supported; send JSON text frames")
	}
	r, err := protocol.Decode([]byte(ev.Body))
	if err != nil {
		return err
	}
	var perr *protocol.Error
	if err := h.limit(ctx, rq, r.Action()); err != nil {
		if errors.As(err, &perr) && perr.Action == "" {
			perr.Action = r.Action()
		}
		return err
	}
	err = h.actions[r.Action()].serve(ctx, rq, r)
	if errors.As(err, &perr) && perr.Action == "" {
		perr.Action = r.Action()
	}
	return err
}

// limit spends a token of the connection's rate limit. ping is exempt: it
// keeps the connection open and costs no storage.
func (h *Chat) limit(ctx context.Context, rq *request, action string) error {
	if action == contract.ActionPing || h.cfg.RatePerSecond <= 0 {
		return nil
	}
	ok, err := h.limiter.TakeToken(ctx, rq.ConnectionID, h.cfg.RatePerSecond, h.cfg.RateBurst)
	switch {
	case errors.Is(err, chat.ErrNotFound):
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
