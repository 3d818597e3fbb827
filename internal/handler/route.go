package handler

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/protocol"
)

// Meter records metrics (a *metrics.Emitter). In a request, Record keeps
// them for the request's one line (Attrs puts them on it) or writes what
// is left at its end (Flush).
type Meter interface {
	Record(ctx context.Context, values ...metrics.Value)
	Attrs(ctx context.Context, values ...metrics.Value) []slog.Attr
	Flush(ctx context.Context)
}

// RateLimiter spends one token of a user's and one of the connection's
// rate limit, in one write shared by every instance (dynamo.Store.
// TakeTokens: both buckets live on the user's item), and reads the
// connection's grant (Admit with no rate: the capabilities a request is
// judged by are the connection item's, which a reauth replaces).
type RateLimiter interface {
	TakeTokens(ctx context.Context, userID, connID string, user, conn chat.Rate) (chat.Refused, error)
	Admit(ctx context.Context, connID string, perSecond float64, burst int) (chat.Grant, bool, error)
}

// Closer closes a connection (@connections DELETE; *connections.Client).
type Closer interface {
	Delete(ctx context.Context, connectionID string) error
}

// closeAfterStrikes is how many frames in a row a connection may have
// refused by its limits before it is closed: a client that backs off after
// a rate_limited error gets a frame through long before; a flood of 1,000
// frames a second reaches it in 50 ms.
const closeAfterStrikes = 50

// ChatStore is everything the chat function's actions use; *dynamo.Store
// implements it.
type ChatStore interface {
	RateLimiter
	JoinStore
	LeaveStore
	SendStore
	HistoryStore
	MembersStore
	ChangeStore
	ReadStore
	ChannelsStore
	ReauthStore
	DirectStore
	ModerationStore
}

// action serves one decoded request. It returns a *protocol.Error for a
// client mistake, any other error for a failure.
type action interface {
	serve(ctx context.Context, rq *request, in protocol.Request) error
}

// Chat serves every action route (join, leave, send, history, members,
// ping, and the lifecycle's edit, delete, react, unreact, typing, read,
// channels) and $default of the chat function: it decodes the frame,
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
	frames  *frameLimiter
	closer  Closer // nil: abusive connections are refused, never closed
	reauth  *reauthAction
}

// NewChat returns the chat function's handler. b broadcasts (and
// spends the per-invocation budget); p replies to the sender.
func NewChat(cfg Config, store ChatStore, b chat.Broadcaster, p chat.Poster, log *slog.Logger, meter Meter) *Chat {
	if meter == nil {
		meter = (*metrics.Emitter)(nil)
	}
	r := replier{poster: p, log: log}
	h := &Chat{cfg: cfg, limiter: store, replier: r, log: log, meter: meter, now: time.Now,
		frames: newFrameLimiter(cfg.FrameRatePerSecond, cfg.FrameBurst)}
	presence := presenceOf(store, cfg.PresenceMaxMembers)
	deliver := &Deliverer{Store: store, Broadcaster: b, Retention: cfg.HistoryRetention, Log: log, Meter: meter, ChannelRate: cfg.ChannelRate, Lifecycle: store}
	change := &changeAction{store: store, replier: r, deliver: deliver}
	h.actions = map[string]action{
		contract.ActionJoin:    &joinAction{store: store, broadcaster: b, replier: r, maxChannels: cfg.MaxChannels, presence: presence, cfg: cfg},
		contract.ActionLeave:   &leaveAction{store: store, broadcaster: b, replier: r, presence: presence},
		contract.ActionSend:    &sendAction{store: store, replier: r, deliver: deliver, defaults: cfg.DefaultChannels},
		contract.ActionHistory: &historyAction{store: store, replier: r, grace: DefaultSettleGrace, retention: cfg.HistoryRetention},
		contract.ActionMembers: &membersAction{store: store, replier: r},
		contract.ActionPing:    &pingAction{replier: r},

		contract.ActionEdit:     change,
		contract.ActionDelete:   change,
		contract.ActionReact:    change,
		contract.ActionUnreact:  change,
		contract.ActionTyping:   &typingAction{store: store, broadcaster: b, presence: presence, throttle: newTypingThrottle(protocol.TypingInterval)},
		contract.ActionRead:     &readAction{store: store, broadcaster: b, replier: r, presence: presence, poster: p, log: log},
		contract.ActionChannels: &channelsAction{store: store, replier: r},
	}
	h.addAuthzActions(store, b, r)
	h.actions[contract.ActionModerate] = &moderateAction{store: store, replier: r,
		mod: &Moderator{Store: store, Deliverer: deliver, Evict: h.reauth.evict, Log: log}}
	return h
}

// WithHook makes h ask hk about every message before storing it, with
// cfg's budget and failure mode, and returns h.
func (h *Chat) WithHook(hk Hook, cfg HookConfig) *Chat {
	gate := &hookGate{hook: hk, cfg: cfg, log: h.log, meter: h.meter}
	h.actions[contract.ActionSend].(*sendAction).gate = gate
	h.actions[contract.ActionEdit].(*changeAction).gate = gate // edit, delete, react and unreact share it; only edits ask
	return h
}

// CloseWith makes h close connections that keep exceeding their limits
// through c, and returns h.
func (h *Chat) CloseWith(c Closer) *Chat {
	h.closer = c
	return h
}

// Handle serves one frame.
func (h *Chat) Handle(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rq, err := newRequest(ev, h.now(), chat.NewBudget(h.cfg.SendBudget))
	ctx = metrics.WithBatch(rq.logContext(ctx))
	defer h.meter.Flush(ctx)
	if rq.ConnectionID == "" {
		// Not from API Gateway's WebSocket side: there is no one to answer.
		h.log.LogAttrs(ctx, slog.LevelWarn, "request without connectionId")
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}, nil
	}
	if !h.frames.take(rq.ConnectionID, rq.Now) {
		// Before decoding, and without a DynamoDB call: pings and garbage
		// spend from this budget too.
		h.meter.Record(ctx, metrics.Value{Name: contract.MetricFramesDropped, Unit: metrics.Count, Value: 1})
		return h.refused(ctx, rq, protocol.Errorf(protocol.CodeRateLimited, "",
			"more than %g frames per second (burst %d); slow down", h.cfg.FrameRatePerSecond, h.cfg.FrameBurst))
	}
	if err != nil {
		err = protocol.Errorf(protocol.CodeUnauthorized, "", "connection has no usable identity")
	} else {
		rq.Caps = grant(ev.RequestContext.Authorizer, h.cfg.DefaultChannels)
		rq.AuthUntil = untilOf(ev.RequestContext.Authorizer, h.cfg.TokenGrace)
		err = h.serve(ctx, rq, ev)
	}
	var perr *protocol.Error
	if errors.As(err, &perr) && perr.Code == protocol.CodeRateLimited {
		h.frames.strike(rq.ConnectionID, rq.Now)
		if _, closeNow := h.frames.verdict(rq.ConnectionID, rq.Now, closeAfterStrikes); closeNow {
			h.close(ctx, rq)
			return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
		}
	} else {
		h.frames.forgive(rq.ConnectionID)
	}
	if errors.As(err, &perr) {
		h.logRequest(ctx, slog.LevelInfo, "request rejected",
			slog.String("action", perr.Action), slog.String("code", string(perr.Code)), slog.String("reason", perr.Message))
		if rerr := h.replier.reply(ctx, rq, h.errorEvent(rq, perr)); rerr != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "error event not delivered", logging.Err(rerr))
		}
		if perr.Code == protocol.CodeTokenExpired {
			h.closeExpired(ctx, rq)
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	if err != nil {
		h.logRequest(ctx, slog.LevelError, "request failed", logging.Err(err))
		internal := protocol.Errorf(protocol.CodeInternal, "", "the server failed; retry later")
		_ = h.replier.reply(ctx, rq, h.errorEvent(rq, internal))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

// refused answers a frame the frame limiter refused: a rate_limited error
// at most once a second (answering a flood frame for frame would double
// it), and after closeAfterStrikes refusals in a row the connection is
// closed.
func (h *Chat) refused(ctx context.Context, rq *request, perr *protocol.Error) (events.APIGatewayProxyResponse, error) {
	notify, closeNow := h.frames.verdict(rq.ConnectionID, rq.Now, closeAfterStrikes)
	switch {
	case closeNow:
		h.close(ctx, rq)
	case notify:
		h.logRequest(ctx, slog.LevelInfo, "request rejected", slog.String("code", string(perr.Code)), slog.String("reason", perr.Message))
		if err := h.replier.reply(ctx, rq, h.errorEvent(rq, perr)); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "error event not delivered", logging.Err(err))
		}
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

// logRequest writes the request's line, with the metrics it recorded.
func (h *Chat) logRequest(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if h.log.Enabled(ctx, level) {
		h.log.LogAttrs(ctx, level, msg, append(attrs, h.meter.Attrs(ctx)...)...)
	}
}

// close closes a connection that kept exceeding its limits. API Gateway
// then runs $disconnect, which cleans up as for any other close.
func (h *Chat) close(ctx context.Context, rq *request) {
	if h.closer == nil {
		return
	}
	h.meter.Record(ctx, metrics.Value{Name: contract.MetricConnectionsClosed, Unit: metrics.Count, Value: 1})
	h.logRequest(ctx, slog.LevelWarn, "closing connection: it kept exceeding its limits",
		slog.String("userId", rq.UserID), slog.Int("strikes", closeAfterStrikes))
	if err := h.closer.Delete(ctx, rq.ConnectionID); err != nil && !errors.Is(err, chat.ErrGone) {
		h.log.LogAttrs(ctx, slog.LevelError, "close connection failed", logging.Err(err))
	}
}

func (h *Chat) errorEvent(rq *request, e *protocol.Error) protocol.ErrorEvent {
	return protocol.ErrorEvent{Code: e.Code, Message: e.Message, Action: e.Action, RequestID: rq.APIRequestID,
		Channel: rq.Channel, ClientID: rq.ClientID}
}

func (h *Chat) serve(ctx context.Context, rq *request, ev events.APIGatewayWebsocketProxyRequest) error {
	if ev.IsBase64Encoded {
		// API Gateway routes binary frames to $default, base64-encoded.
		return h.invalid(ctx, rq, protocol.Errorf(protocol.CodeInvalidJSON, "", "binary frames are not supported; send JSON text frames"))
	}
	r, err := protocol.Decode([]byte(ev.Body))
	if err != nil {
		return h.invalid(ctx, rq, err)
	}
	rq.Channel, rq.ClientID = protocol.Echo(r)
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

// invalid answers a frame that does not decode (bad JSON, an unknown
// action, a field that fails validation, a binary frame). It costs the
// sender what a valid request costs: a token of the connection's and of
// the user's shared budgets, so a flood of invalid frames over many
// instances is held to the same rate as a flood of valid ones (the
// per-instance frame budget alone lets n warm instances take n times the
// rate). A client over its budget is told so (and earns a strike);
// otherwise it gets the decode error. A limiter failure does not hide the
// client's mistake.
func (h *Chat) invalid(ctx context.Context, rq *request, decodeErr error) error {
	var perr *protocol.Error
	if err := h.limit(ctx, rq, ""); errors.As(err, &perr) && perr.Code == protocol.CodeRateLimited {
		return err
	}
	return decodeErr
}

// limit spends a token of the user's rate limit and of the connection's.
// ping and typing are exempt (they write nothing; the frame limiter bounds
// them without a DynamoDB call, typing also its own throttle).
func (h *Chat) limit(ctx context.Context, rq *request, action string) error {
	if action == contract.ActionPing || action == contract.ActionTyping {
		// No rate token (no DynamoDB call); the grant's expiry still
		// applies, read only once the authorizer's grant has ended.
		return h.checkPing(ctx, rq)
	}
	user := chat.Rate{PerSecond: h.cfg.UserRatePerSecond, Burst: h.cfg.UserRateBurst}
	conn := chat.Rate{PerSecond: h.cfg.RatePerSecond, Burst: h.cfg.RateBurst}
	refused, err := h.limiter.TakeTokens(ctx, rq.UserID, rq.ConnectionID, user, conn)
	if err != nil {
		return err
	}
	switch refused {
	case chat.UserRefused:
		h.meter.Record(ctx, metrics.Value{Name: contract.MetricRateLimited, Unit: metrics.Count, Value: 1})
		return protocol.Errorf(protocol.CodeRateLimited, "", "your connections together sent more than %g requests per second (burst %d); slow down",
			h.cfg.UserRatePerSecond, h.cfg.UserRateBurst)
	case chat.ConnectionRefused:
		h.meter.Record(ctx, metrics.Value{Name: contract.MetricRateLimited, Unit: metrics.Count, Value: 1})
		return protocol.Errorf(protocol.CodeRateLimited, "", "more than %g requests per second (burst %d); slow down", h.cfg.RatePerSecond, h.cfg.RateBurst)
	}
	if action == contract.ActionSend || action == "" {
		// send reads the grant with the membership (CheckSend): one call;
		// a frame that did not decode needs none.
		return nil
	}
	g, _, err := h.limiter.Admit(ctx, rq.ConnectionID, 0, 0)
	return h.admitGrant(rq, g, err)
}

// admitGrant applies a connection's grant as read from its item: absent is
// not registered, ended is token_expired, else its capabilities are the
// request's.
func (h *Chat) admitGrant(rq *request, g chat.Grant, err error) error {
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return errNotRegistered()
	case errors.Is(err, chat.ErrExpired):
		return errTokenExpired()
	case err != nil:
		return err
	}
	rq.Caps = capsOf(g.Capabilities, h.cfg.DefaultChannels)
	return nil
}

// errNotRegistered answers requests on a connection the store does not know
// (expired, or removed after a failed post).
func errNotRegistered() *protocol.Error {
	return protocol.Errorf(protocol.CodeUnauthorized, "", "connection is not registered; reconnect")
}
