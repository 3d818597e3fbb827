package handler_test

import (
	"fmt"
	"testing"
	"time"
)

func TestConnectRegistersTheAuthorizedUser(t *testing.T) {
	e := newEnv(t, testConfig())
	req := fixture(t, "connect")
	resp, err := e.connect.Handle(t.Context(), req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("connect = %d, %v; want 200", resp.StatusCode, err)
	}
	if got := resp.Headers["Sec-WebSocket-Protocol"]; got != "wschat.v1" {
		t.Errorf("Sec-WebSocket-Protocol = %q, want wschat.v1 echoed (and never the token)", got)
	}
	c, err := e.store.Connection(t.Context(), "X1connAAAAAAA=")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if c.UserID != "user-ann" || c.UserName != "Ann" || !c.ConnectedAt.Equal(now) {
		t.Errorf("connection = %+v, want user-ann/Ann connected at %v", c, now)
	}
	if want := now.Add(2*time.Hour + 10*time.Minute); !c.ExpiresAt.Equal(want) {
		t.Errorf("connection expires at %v, want %v (2h10m after connect)", c.ExpiresAt, want)
	}
}

func TestConnectSubprotocol(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		multi   map[string][]string
		want    string
	}{
		{"with token", map[string]string{"Sec-WebSocket-Protocol": "wschat.v1, abc.def.ghi"}, nil, "wschat.v1"},
		{"alone", map[string]string{"Sec-WebSocket-Protocol": "wschat.v1"}, nil, "wschat.v1"},
		{"lower-case header", map[string]string{"sec-websocket-protocol": "abc.def.ghi,wschat.v1"}, nil, "wschat.v1"},
		{"multi-value only", nil, map[string][]string{"Sec-WebSocket-Protocol": {"wschat.v1", "abc.def.ghi"}}, "wschat.v1"},
		{"other protocol", map[string]string{"Sec-WebSocket-Protocol": "chat.v2"}, nil, ""},
		{"prefix only", map[string]string{"Sec-WebSocket-Protocol": "wschat.v10"}, nil, ""},
		{"none", nil, nil, ""},
	}
	e := newEnv(t, testConfig())
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := fixture(t, "connect")
			req.RequestContext.ConnectionID = fmt.Sprintf("sp%d", i)
			req.Headers, req.MultiValueHeaders = tt.headers, tt.multi
			resp, err := e.connect.Handle(t.Context(), req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("connect = %d, %v", resp.StatusCode, err)
			}
			if got := resp.Headers["Sec-WebSocket-Protocol"]; got != tt.want {
				t.Errorf("Sec-WebSocket-Protocol = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAnonymousConnectionCanChat(t *testing.T) {
	e := newEnv(t, testConfig())
	e.open("anon1", nil)
	e.must("anon1", nil, `{"action":"join","channel":"general"}`)
	e.must("anon1", nil, `{"action":"send","channel":"general","text":"hi","clientId":"c"}`)
	h := e.history("general")
	if len(h) != 1 || h[0].UserID != "anon-anon1" {
		t.Errorf("history = %+v, want one message by anon-anon1", h)
	}
}

func TestConnectIndexesTheConnectionUnderItsUser(t *testing.T) {
	e := newEnv(t, testConfig())
	if resp, err := e.connect.Handle(t.Context(), fixture(t, "connect")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("connect = %d, %v; want 200", resp.StatusCode, err)
	}
	got, err := e.store.ConnectionsOfUser(t.Context(), "user-ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "X1connAAAAAAA=" || got[0].UserName != "Ann" {
		t.Fatalf("ConnectionsOfUser(user-ann) = %+v, want the one connection X1connAAAAAAA=", got)
	}
	if _, err := e.disconnect.Handle(t.Context(), fixture(t, "disconnect")); err != nil {
		t.Fatal(err)
	}
	if got, err := e.store.ConnectionsOfUser(t.Context(), "user-ann"); err != nil || len(got) != 0 {
		t.Errorf("after $disconnect ConnectionsOfUser = %+v, %v; want none", got, err)
	}
}
