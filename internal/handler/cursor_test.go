package handler_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
)

// TestMembersCursorIsOpaque: a cursor is a random reference that decodes to
// nothing readable, works only for the channel it was issued for, and
// forged, foreign, old-format or expired cursors are refused with
// invalid_field.
func TestMembersCursorIsOpaque(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := t.Context()
	now := e.clock.Now()
	var secrets []string
	for _, ch := range []string{"big", "other"} {
		for _, id := range ids(ch[:1], 105) {
			c := chat.Connection{ID: id, Identity: chat.Identity{UserID: "user-" + id, UserName: id}, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := e.store.PutConnection(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.AddMember(ctx, chat.Member{Channel: ch, ConnectionID: id, Identity: c.Identity, JoinedAt: now}, 20); err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, id)
		}
	}
	first := func(ch string) string {
		t.Helper()
		e.must("b000", user("user-b000", "b000"), `{"action":"members","channel":"`+ch+`"}`)
		f := e.gw.take("b000")
		next, _ := f[0]["next"].(string)
		if next == "" {
			t.Fatalf("first page of %s has no next: %v", ch, f)
		}
		return next
	}
	e.must("b000", user("user-b000", "b000"), `{"action":"join","channel":"other"}`)
	e.gw.take("b000")
	next := first("big")

	raw, err := base64.RawURLEncoding.DecodeString(next)
	if err != nil || len(raw) != 16 {
		t.Errorf("cursor %q decodes to %d bytes (%v), want 16 random bytes", next, len(raw), err)
	}
	for _, s := range append(secrets, "CONN", "CHAN", "big", "user-") {
		if strings.Contains(string(raw), s) || strings.Contains(next, s) {
			t.Errorf("cursor %q reveals %q", next, s)
		}
	}
	ask := func(ch, cursor string) map[string]any {
		t.Helper()
		e.must("b000", user("user-b000", "b000"), `{"action":"members","channel":"`+ch+`","cursor":"`+cursor+`"}`)
		f := e.gw.take("b000")
		if len(f) != 1 {
			t.Fatalf("frames = %v", f)
		}
		return f[0]
	}
	if f := ask("big", next); f["type"] != "members" {
		t.Fatalf("the issued cursor was refused: %v", f)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	forged := []struct{ name, channel, cursor string }{
		{"other channel's cursor", "other", next},
		{"old raw format", "big", b64([]byte("0:b050"))},
		{"raw format naming a non-member", "big", b64([]byte("0:A"))},
		{"raw format naming another item", "big", b64([]byte("0:HIST#x"))},
		{"well-formed reference never issued", "big", b64(make([]byte, 16))},
		{"not base64", "big", strings.Repeat("!", 22)},
	}
	for _, tt := range forged {
		if f := ask(tt.channel, tt.cursor); f["code"] != "invalid_field" {
			t.Errorf("%s: answer %v, want invalid_field", tt.name, f)
		}
	}
	e.clock.Advance(16 * time.Minute)
	if f := ask("big", next); f["code"] != "invalid_field" {
		t.Errorf("expired cursor: answer %v, want invalid_field", f)
	}
}
