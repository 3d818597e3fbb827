package handler_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/handler"
)

func TestPresenceStopsBroadcastingAboveTheSize(t *testing.T) {
	cfg := testConfig()
	cfg.PresenceMaxMembers = 3
	e := newEnv(t, cfg)
	e.joinAll("big", "a", "b", "c") // 3 members: each join still announced

	dave := user("u-d", "Dave")
	e.open("d", dave)
	e.must("d", dave, `{"action":"join","channel":"big"}`) // the 4th member
	f := e.gw.take("d")
	if len(f) != 1 || f[0]["type"] != "joined" || f[0]["members"] != float64(4) {
		t.Errorf("joiner got %v, want one joined with members 4", f)
	}
	for _, id := range []string{"a", "b", "c"} {
		if f := e.gw.take(id); len(f) != 0 {
			t.Errorf("%s got %v for the 4th join, want nothing", id, f)
		}
	}

	erin := user("u-e", "Erin")
	e.open("e", erin)
	e.must("e", erin, `{"action":"join","channel":"big"}`)
	e.gw.take("e")
	e.must("e", erin, `{"action":"leave","channel":"big"}`) // leaves 4 > 3
	f = e.gw.take("e")
	if len(f) != 1 || f[0]["type"] != "left" || f[0]["members"] != float64(4) {
		t.Errorf("leaver got %v, want one left with members 4", f)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if f := e.gw.take(id); len(f) != 0 {
			t.Errorf("%s got %v for a leave above the presence size, want nothing", id, f)
		}
	}

	e.must("d", dave, `{"action":"leave","channel":"big"}`) // back to 3: announced
	for _, id := range []string{"a", "b", "c", "d"} {
		if f := e.gw.take(id); countType(f, "left") != 1 {
			t.Errorf("%s got %v, want one left at 3 members", id, f)
		}
	}
	// Messages are not presence: they still reach everyone.
	e.must("a", user("u-a", "User a"), `{"action":"send","channel":"big","text":"hi","clientId":"m1"}`)
	for _, id := range []string{"a", "b", "c"} {
		if f := e.gw.take(id); countType(f, "message") != 1 {
			t.Errorf("%s got %v, want the message", id, f)
		}
	}
}

type sizer struct {
	members int64
	err     error
}

func (s sizer) ChannelSize(context.Context, string) (int64, int, error) { return s.members, 1, s.err }

type countingBroadcaster struct{ calls int }

func (b *countingBroadcaster) Broadcast(context.Context, *chat.Budget, string, []byte) (chat.FanoutStats, error) {
	b.calls++
	return chat.FanoutStats{}, nil
}

func TestPresenceGate(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		sizer     handler.ChannelSizer
		max       int
		wantCalls int
		wantErr   error
	}{
		{"small channel", sizer{members: 3}, 3, 1, nil},
		{"above the size", sizer{members: 4}, 3, 0, nil},
		{"rule off", sizer{members: 1e6}, 0, 1, nil},
		{"no sizer", nil, 3, 1, nil},
		{"count unreadable", sizer{err: boom}, 3, 0, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &countingBroadcaster{}
			g := handler.PresenceGate{Broadcaster: b, Sizer: tt.sizer, Max: tt.max}
			_, err := g.Broadcast(t.Context(), nil, "big", []byte(`{}`))
			if b.calls != tt.wantCalls || !errors.Is(err, tt.wantErr) {
				t.Errorf("broadcasts = %d, err = %v; want %d, %v", b.calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}
