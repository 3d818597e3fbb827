package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire"
)

// The answers of the routes are the wire contract's, the same types the
// publisher client decodes.
type (
	Published    = wire.Published
	Notified     = wire.Notified
	Disconnected = wire.Disconnected
)

func (h *Handler) publish(ctx context.Context, ev events.APIGatewayV2HTTPRequest, c caller) (any, error) {
	channel := ev.PathParameters["channel"]
	if !protocol.ValidChannel(channel) {
		return nil, protocol.Errorf(protocol.CodeInvalidField, "", "channel must match ^[a-z0-9][a-z0-9_-]{0,63}$")
	}
	data, err := body(ev)
	if err != nil {
		return nil, err
	}
	p, err := protocol.DecodePublish(data)
	if err != nil {
		return nil, err
	}
	msg, err := h.deliver.Deliver(ctx, handler.Post{
		Channel:  channel,
		Text:     p.Text,
		ClientID: p.ID,
		Caller:   c.principal,
		Identity: chat.Identity{UserID: chat.FromServer, UserName: h.displayName(c.principal)},
		From:     chat.FromServer,
		Now:      h.now(),
		Budget:   chat.NewBudget(h.cfg.SendBudget),
	})
	if err != nil {
		return nil, err
	}
	// At debug level only: the broadcast's line already names the channel
	// and the seq, and the access log the caller.
	h.log.LogAttrs(ctx, slog.LevelDebug, "published", slog.String("channel", channel), slog.Int64("seq", msg.Seq))
	return Published{Channel: channel, ID: p.ID, Seq: msg.Seq}, nil
}

// userConnections validates the userId path parameter and reads the
// user's live connections.
func (h *Handler) userConnections(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (string, []chat.Connection, error) {
	user := ev.PathParameters["userId"]
	if err := wire.CheckUserID(user); err != nil {
		// The one rule for user ids: a user who could connect can be
		// reached here, and no other.
		return "", nil, protocol.Errorf(protocol.CodeInvalidField, "", "%v (the user id rule: docs/auth.md)", err)
	}
	conns, err := h.store.ConnectionsOfUser(ctx, user)
	return user, conns, err
}

// noticeRecordTTL is how long a notice's record stays: only the stream
// reads it, at once.
const noticeRecordTTL = 24 * time.Hour

func (h *Handler) notify(ctx context.Context, ev events.APIGatewayV2HTTPRequest, c caller) (any, error) {
	data, err := body(ev)
	if err != nil {
		return nil, err
	}
	// The body first: a bad body is refused before any read.
	n, err := protocol.DecodeNotice(data)
	if err != nil {
		return nil, err
	}
	user, conns, err := h.userConnections(ctx, ev)
	if err != nil {
		return nil, err
	}
	at := h.now().UTC().Truncate(time.Millisecond)
	notice := protocol.Notice{From: chat.FromServer, UserName: h.displayName(c.principal), Text: n.Text, ID: n.ID, At: at}
	frame, err := handler.EncodeEvent(notice)
	if err != nil {
		return nil, err
	}
	delivered, err := h.each(ctx, conns, func(ctx context.Context, id string) error { return h.conns.Post(ctx, id, frame) })
	h.log.LogAttrs(ctx, slog.LevelInfo, "notified", slog.Int("connections", len(conns)), slog.Int("delivered", delivered))
	if err == nil && h.cfg.RecordNotices {
		// After the posts, with their outcome. A failure here answers an
		// error, so the backend retries (with its id, which clients use to
		// drop a repeated notice) and the event is not lost.
		err = h.store.PutNotice(ctx, chat.NoticeSent{UserID: user, ID: n.ID, FromName: notice.UserName, Text: n.Text,
			Connections: len(conns), Delivered: delivered, At: at, ExpiresAt: at.Add(noticeRecordTTL)})
	}
	return Notified{UserID: user, Connections: len(conns), Delivered: delivered}, err
}

func (h *Handler) disconnect(ctx context.Context, ev events.APIGatewayV2HTTPRequest, _ caller) (any, error) {
	if len(ev.Body) > 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidField, "", "a disconnect takes no body")
	}
	user, conns, err := h.userConnections(ctx, ev)
	if err != nil {
		return nil, err
	}
	closed, err := h.each(ctx, conns, h.conns.Delete)
	h.log.LogAttrs(ctx, slog.LevelInfo, "disconnected user", slog.Int("connections", len(conns)), slog.Int("closed", closed))
	return Disconnected{UserID: user, Closed: closed, Gone: len(conns) - closed}, err
}

// maxParallel bounds the @connections calls in flight for one user.
const maxParallel = 8

// each runs call on every connection, a few at a time, and counts the
// successes. A gone connection is cleaned up (its memberships, index entry
// and item), as the fan-out does on 410; any other failure is returned
// after every connection was tried, so the backend retries (a notice may
// then reach a connection twice; a disconnect is idempotent).
func (h *Handler) each(ctx context.Context, conns []chat.Connection, call func(context.Context, string) error) (int, error) {
	var (
		mu   sync.Mutex
		ok   int
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, maxParallel)
	)
	for _, c := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := call(ctx, c.ID)
			if errors.Is(err, chat.ErrGone) {
				if _, rerr := h.store.RemoveConnection(ctx, c.ID); rerr != nil && !errors.Is(rerr, chat.ErrNotFound) {
					h.log.LogAttrs(ctx, slog.LevelWarn, "cleanup of gone connection failed", slog.String("connectionId", c.ID), logging.Err(rerr))
				}
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("connection %s: %w", c.ID, err))
				return
			}
			ok++
		}()
	}
	wg.Wait()
	return ok, errors.Join(errs...)
}
