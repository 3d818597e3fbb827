package handler

import (
	"context"
	"errors"
	"log/slog"
	"regexp"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
)

// ReplaceWith lets $connect close the connection a reconnecting client
// names in contract.ReplacesParameter (see replace); without it the
// parameter is ignored.
func (h *Connect) ReplaceWith(c Closer) *Connect {
	h.closer = c
	return h
}

// connectionIDRE is the alphabet of API Gateway's connection ids (and of the
// emulator's), generously bounded: anything else is not looked up.
var connectionIDRE = regexp.MustCompile(`^[A-Za-z0-9+/=_-]{1,128}$`)

// replace closes the connection the client says it gave up on without a
// close (a half-open connection its heartbeat found silent), when it is the
// same user's. API Gateway then runs that connection's $disconnect at once,
// which removes its memberships and announces `left`, instead of at the
// 10-minute idle cut; until then every post to it would answer 200 and go
// nowhere. An id that is not the user's, or that is already gone, changes
// nothing. Failures are logged and never refuse the new connection.
func (h *Connect) replace(ctx context.Context, rq *request, ev events.APIGatewayWebsocketProxyRequest) {
	old := ev.QueryStringParameters[contract.ReplacesParameter]
	if old == "" || h.closer == nil || old == rq.ConnectionID {
		return
	}
	attrs := []slog.Attr{slog.String("replaces", old), slog.String("userId", rq.UserID)}
	if !connectionIDRE.MatchString(old) {
		h.log.LogAttrs(ctx, slog.LevelWarn, "replaces is not a connection id; ignored")
		return
	}
	prev, err := h.store.Connection(ctx, old)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		h.log.LogAttrs(ctx, slog.LevelInfo, "replaced connection already gone", attrs...)
		return
	case err != nil:
		h.log.LogAttrs(ctx, slog.LevelWarn, "replace: read the old connection", append(attrs, logging.Err(err))...)
		return
	case prev.UserID != rq.UserID:
		h.log.LogAttrs(ctx, slog.LevelWarn, "replaces names another user's connection; ignored", attrs...)
		return
	}
	err = h.closer.Delete(ctx, old)
	if errors.Is(err, chat.ErrGone) {
		// API Gateway has forgotten it but the store has not: its
		// $disconnect (best effort) never ran or failed.
		_, err = h.store.RemoveConnection(ctx, old)
		if errors.Is(err, chat.ErrNotFound) {
			err = nil
		}
	}
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "replace: close the old connection", append(attrs, logging.Err(err))...)
		return
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "replaced a silent connection", attrs...)
}
