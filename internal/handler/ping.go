package handler

import (
	"context"

	"github.com/wschat/wschat/internal/protocol"
)

// pingAction answers pong; it touches no storage.
type pingAction struct{ replier replier }

func (h *pingAction) serve(ctx context.Context, rq *request, _ protocol.Request) error {
	return h.replier.reply(ctx, rq, protocol.Pong{At: rq.Now, ConnectionID: rq.ConnectionID})
}
