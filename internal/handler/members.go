package handler

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
)

// MemberChecker reads one membership (chat.ErrNotFound when absent).
type MemberChecker interface {
	Member(ctx context.Context, channel, connID string) (chat.Member, error)
}

// requireMember returns a not_member error unless the requester is a live
// member of channel, and the membership otherwise.
func requireMember(ctx context.Context, store MemberChecker, rq *request, channel string) (chat.Member, error) {
	m, err := store.Member(ctx, channel, rq.ConnectionID)
	if errors.Is(err, chat.ErrNotFound) {
		return m, notMember(channel)
	}
	return m, err
}

// MembersStore is what members reads, and where it keeps the store's page
// cursors behind the references clients see.
type MembersStore interface {
	MemberChecker
	Members(ctx context.Context, channel, cursor string, limit int) ([]chat.Member, string, error)
	PutCursor(ctx context.Context, ref, channel, raw string, expires time.Time) error
	Cursor(ctx context.Context, ref string) (channel, raw string, err error)
}

// membersPageSize and membersMaxReads bound one members answer: 100 entries
// of at most ~450 bytes stay far below the frame limit.
const (
	membersPageSize = 100
	membersMaxReads = 10
)

// membersAction serves members: one page of the channel's members.
type membersAction struct {
	store   MembersStore
	replier replier
}

func (h *membersAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Members)
	if _, err := requireAccess(ctx, h.store, rq, r.Channel, chat.RightPresence); err != nil {
		return err
	}
	page := protocol.MembersPage{Channel: r.Channel}
	cursor, err := h.resolveCursor(ctx, r.Channel, r.Cursor)
	if err != nil {
		return err
	}
	// Expired memberships are filtered out of a page, so one can come back
	// short or empty with more to read: read on, a bounded number of times.
	for i := 0; i < membersMaxReads; i++ {
		ms, next, err := h.store.Members(ctx, r.Channel, cursor, membersPageSize-len(page.Members))
		if errors.Is(err, chat.ErrBadCursor) {
			return protocol.Errorf(protocol.CodeInvalidField, "", "cursor is not one this server returned")
		}
		if err != nil {
			return err
		}
		for _, m := range ms {
			page.Members = append(page.Members, protocol.Member{UserID: m.UserID, UserName: m.UserName, JoinedAt: m.JoinedAt})
		}
		cursor = next
		if next == "" || len(page.Members) >= membersPageSize {
			break
		}
	}
	if cursor != "" {
		if page.Next, err = h.issueCursor(ctx, rq, r.Channel, cursor); err != nil {
			return err
		}
	}
	return h.replier.reply(ctx, rq, page)
}

// Cursors are opaque by construction: the store's cursor (which names the
// last connection id read) is kept server-side under a random reference,
// with the channel it pages, for cursorTTL; the client sees only the
// reference. Compared with sealing the raw cursor (AEAD) this needs no key
// to create, distribute, read at start-up or rotate, and nothing a client
// holds can ever be decrypted, at one small PutItem per page that has a
// next and one GetItem per page asked for with a cursor.
const (
	cursorTTL      = 15 * time.Minute
	cursorRefBytes = 16
)

var cursorRefLen = base64.RawURLEncoding.EncodedLen(cursorRefBytes)

func errBadCursor() error {
	return protocol.Errorf(protocol.CodeInvalidField, "", "cursor is not one this server returned for this channel (or it expired); start again without one")
}

// resolveCursor returns the store's cursor behind ref ("" for ""): only a
// live reference this server issued for channel is accepted.
func (h *membersAction) resolveCursor(ctx context.Context, channel, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	if len(ref) != cursorRefLen {
		return "", errBadCursor()
	}
	if _, err := base64.RawURLEncoding.DecodeString(ref); err != nil {
		return "", errBadCursor()
	}
	ch, raw, err := h.store.Cursor(ctx, ref)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return "", errBadCursor()
	case err != nil:
		return "", err
	case ch != channel || raw == "":
		return "", errBadCursor()
	}
	return raw, nil
}

// issueCursor stores raw under a fresh random reference and returns it.
func (h *membersAction) issueCursor(ctx context.Context, rq *request, channel, raw string) (string, error) {
	b := make([]byte, cursorRefBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	ref := base64.RawURLEncoding.EncodeToString(b)
	if err := h.store.PutCursor(ctx, ref, channel, raw, rq.Now.Add(cursorTTL)); err != nil {
		return "", err
	}
	return ref, nil
}
