package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"

	"github.com/aws/aws-lambda-go/events"
)

// fakeStore is a hand-written ChatStore whose every method answers err
// (nil: success with empty results), with the rate limiter's answer in
// allow.
type fakeStore struct {
	err       error
	allow     bool
	notMember bool
	calls     []string
}

func (f *fakeStore) call(name string) error { f.calls = append(f.calls, name); return f.err }

func (f *fakeStore) TakeTokens(context.Context, string, string, chat.Rate, chat.Rate) (chat.Refused, error) {
	if !f.allow {
		return chat.ConnectionRefused, f.call("TakeTokens")
	}
	return chat.Allowed, f.call("TakeTokens")
}
func (f *fakeStore) Admit(context.Context, string, float64, int) (chat.Grant, bool, error) {
	return chat.Grant{Capabilities: "*"}, f.allow, f.call("Admit")
}
func (f *fakeStore) ChannelInfo(context.Context, string) (chat.ChannelInfo, error) {
	return chat.ChannelInfo{}, f.call("ChannelInfo")
}
func (f *fakeStore) Revoked(context.Context, string) (time.Time, error) {
	return time.Time{}, f.call("Revoked")
}
func (f *fakeStore) RenewGrant(context.Context, string, string, chat.Grant) (chat.Connection, error) {
	return chat.Connection{}, f.call("RenewGrant")
}
func (f *fakeStore) OpenDirect(context.Context, chat.Identity, string, time.Time) (chat.ListedChannel, bool, error) {
	return chat.ListedChannel{}, false, f.call("OpenDirect")
}
func (f *fakeStore) CheckSend(context.Context, string, string) (chat.SendCheck, error) {
	if err := f.call("CheckSend"); err != nil {
		return chat.SendCheck{}, err
	}
	sc := chat.SendCheck{Registered: true, Grant: chat.Grant{Capabilities: "*"}, Size: chat.ChannelSize{Members: 1, Shards: 1}}
	if !f.notMember {
		sc.Member = &chat.Member{}
	}
	return sc, nil
}
func (f *fakeStore) Discard(context.Context, string, int64, time.Duration) error {
	return f.call("Discard")
}
func (f *fakeStore) MarkDelivered(context.Context, chat.ClaimKey) error {
	return f.call("MarkDelivered")
}

func (f *fakeStore) PutCursor(context.Context, string, string, string, time.Time) error {
	return f.call("PutCursor")
}
func (f *fakeStore) Cursor(context.Context, string) (string, string, error) {
	return "", "", f.call("Cursor")
}
func (f *fakeStore) AddMember(context.Context, chat.Member, int) (bool, error) {
	return false, f.call("AddMember")
}
func (f *fakeStore) RemoveMember(context.Context, string, string) (bool, error) {
	return true, f.call("RemoveMember")
}
func (f *fakeStore) Member(context.Context, string, string) (chat.Member, error) {
	return chat.Member{}, f.call("Member")
}
func (f *fakeStore) Members(context.Context, string, string, int) ([]chat.Member, string, error) {
	return nil, "", f.call("Members")
}
func (f *fakeStore) Claim(_ context.Context, c chat.Claim) (chat.Claim, bool, error) {
	return c, true, f.call("Claim")
}
func (f *fakeStore) NextSeq(context.Context, string) (int64, error) { return 1, f.call("NextSeq") }
func (f *fakeStore) TakeSeq(context.Context, string, time.Duration, time.Duration) (int64, bool, error) {
	return 1, true, f.call("TakeSeq")
}
func (f *fakeStore) SetClaimSeq(_ context.Context, _ chat.ClaimKey, seq int64) (int64, error) {
	return seq, f.call("SetClaimSeq")
}
func (f *fakeStore) PutMessage(context.Context, chat.Message) error { return f.call("PutMessage") }
func (f *fakeStore) SettledHistory(context.Context, chat.HistoryQuery) (chat.HistoryPage, error) {
	return chat.HistoryPage{}, f.call("History")
}
func (f *fakeStore) LastSeq(context.Context, string) (int64, error)  { return 0, f.call("LastSeq") }
func (f *fakeStore) StartSeq(context.Context, string) (int64, error) { return 0, f.call("StartSeq") }
func (f *fakeStore) RebindClaimSeq(_ context.Context, _ chat.ClaimKey, _, to int64) (int64, error) {
	return to, f.call("RebindClaimSeq")
}

// fakePoster records frames, or fails with err.
type fakePoster struct {
	err    error
	frames []string
}

func (p *fakePoster) Post(_ context.Context, _ string, frame []byte) error {
	if p.err != nil {
		return p.err
	}
	p.frames = append(p.frames, string(frame))
	return nil
}

// fakeBroadcaster records the channels broadcast to.
type fakeBroadcaster struct {
	err      error
	channels []string
}

func (b *fakeBroadcaster) Broadcast(_ context.Context, _ *chat.Budget, ch string, _ []byte) (chat.FanoutStats, error) {
	b.channels = append(b.channels, ch)
	return chat.FanoutStats{}, b.err
}

func event(body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: "c1", RequestID: "r1", RouteKey: "send",
			Authorizer: map[string]any{"userId": "u1", "userName": "Ann"},
		},
	}
}

func TestChatOutcomes(t *testing.T) {
	boom := errors.New("boom")
	send := `{"action":"send","channel":"general","text":"hi","clientId":"k"}`
	tests := []struct {
		name       string
		body       string
		store      fakeStore
		poster     fakePoster
		broadcast  error
		wantStatus int
		wantErr    bool
		wantFrame  string // the one frame's type or error code
	}{
		{"send ok", send, fakeStore{allow: true}, fakePoster{}, nil, 200, false, "ack"},
		{"rate limited", send, fakeStore{allow: false}, fakePoster{}, nil, 200, false, "rate_limited"},
		{"not a member (or the connection unknown)", send, fakeStore{allow: true, notMember: true}, fakePoster{}, nil, 200, false, "not_member"},
		{"store down", send, fakeStore{err: boom}, fakePoster{}, nil, 500, true, "internal"},
		{"fan-out fails", send, fakeStore{allow: true}, fakePoster{}, boom, 500, true, "internal"},
		{"requester gone", send, fakeStore{allow: true}, fakePoster{err: chat.ErrGone}, nil, 200, false, ""},
		{"client mistake, requester gone", `{"action":1}`, fakeStore{}, fakePoster{err: chat.ErrGone}, nil, 200, false, ""},
		{"ping", `{"action":"ping"}`, fakeStore{err: boom}, fakePoster{}, nil, 200, false, "pong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			cfg := DefaultConfig()
			cfg.DefaultChannels = "*" // open, as in dev
			h := NewChat(cfg, &tt.store, &fakeBroadcaster{err: tt.broadcast}, &tt.poster, log, nil)
			h.now = func() time.Time { return time.Unix(1_800_000_000, 0) }

			resp, err := h.Handle(t.Context(), event(tt.body))
			if resp.StatusCode != tt.wantStatus || (err != nil) != tt.wantErr {
				t.Errorf("Handle = %d, %v; want %d, error %v", resp.StatusCode, err, tt.wantStatus, tt.wantErr)
			}
			var got []string
			for _, f := range tt.poster.frames {
				var ev struct{ Type, Code string }
				if err := json.Unmarshal([]byte(f), &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Type == "error" {
					got = append(got, ev.Code)
				} else {
					got = append(got, ev.Type)
				}
			}
			if want := strings.Fields(tt.wantFrame); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("frames to the sender = %v, want %v", got, want)
			}
			if tt.wantErr && strings.Count(logs.String(), `"level":"ERROR"`) != 1 {
				t.Errorf("a failure must be logged once at error level:\n%s", logs.String())
			}
			if !tt.wantErr && strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("no error expected in logs:\n%s", logs.String())
			}
		})
	}
}

func TestChatWithoutConnectionID(t *testing.T) {
	p := &fakePoster{}
	h := NewChat(DefaultConfig(), &fakeStore{}, &fakeBroadcaster{}, p, slog.New(slog.DiscardHandler), nil)
	req := event(`{"action":"ping"}`)
	req.RequestContext.ConnectionID = ""
	resp, err := h.Handle(t.Context(), req)
	if err != nil || resp.StatusCode != 400 || len(p.frames) != 0 {
		t.Errorf("Handle = %d, %v, frames %v; want 400, no error, nothing posted", resp.StatusCode, err, p.frames)
	}
}

func (f *fakeStore) Standing(context.Context, string, string) (chat.Standing, error) {
	return chat.Standing{}, f.call("Standing")
}
func (f *fakeStore) Moderate(context.Context, string, string, string, time.Time, string) (chat.Standing, error) {
	return chat.Standing{}, f.call("Moderate")
}
func (f *fakeStore) SetMemberMute(context.Context, string, string, time.Time) error {
	return f.call("SetMemberMute")
}
func (f *fakeStore) PutModeration(context.Context, chat.Moderation) error {
	return f.call("PutModeration")
}
