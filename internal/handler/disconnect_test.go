package handler_test

import (
	"errors"
	"testing"

	"github.com/wschat/wschat/internal/chat"
)

func TestDisconnectRemovesMembershipsAndAnnounces(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("one", "a", "b")
	e.joinAll("two", "c")
	ann := user("user-ann", "Ann")
	e.open("X1connAAAAAAA=", ann)
	e.must("X1connAAAAAAA=", ann, `{"action":"join","channel":"one"}`)
	e.must("X1connAAAAAAA=", ann, `{"action":"join","channel":"two"}`)
	for _, id := range []string{"a", "b", "c", "X1connAAAAAAA="} {
		e.gw.take(id)
	}

	req := fixture(t, "disconnect")
	for i := range 2 { // API Gateway may deliver it twice; the second finds nothing
		resp, err := e.disconnect.Handle(t.Context(), req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("disconnect #%d = %d, %v; want 200", i+1, resp.StatusCode, err)
		}
	}
	for _, tt := range []struct {
		id, channel string
	}{{"a", "one"}, {"b", "one"}, {"c", "two"}} {
		f := e.gw.take(tt.id)
		if len(f) != 1 || f[0]["type"] != "left" || f[0]["channel"] != tt.channel || f[0]["userId"] != "user-ann" {
			t.Errorf("%s got %v, want one left event for Ann in %s", tt.id, f, tt.channel)
		}
	}
	if _, err := e.store.Connection(t.Context(), "X1connAAAAAAA="); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("connection after disconnect: %v, want ErrNotFound", err)
	}
	for _, ch := range []string{"one", "two"} {
		if _, err := e.store.Member(t.Context(), ch, "X1connAAAAAAA="); !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("membership of %s after disconnect: %v, want ErrNotFound", ch, err)
		}
	}
}
