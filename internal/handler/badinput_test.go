package handler_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/handler"

	"github.com/aws/aws-lambda-go/events"
)

// testConfig is the default configuration with a rate limit the tests'
// frozen clock does not hit, and every channel open to tokens without a
// channels claim (as in dev), so tests of other behaviour need no grant.
func testConfig() handler.Config {
	c := handler.DefaultConfig()
	c.RatePerSecond, c.RateBurst = 1000, 1000
	c.UserRatePerSecond, c.UserRateBurst = 1000, 1000
	c.FrameRatePerSecond, c.FrameBurst = 1000, 1000
	c.DefaultChannels = "*"
	return c
}

func TestBadInputsYieldAnErrorFrameAndStoreNothing(t *testing.T) {
	cfg := testConfig()
	cfg.MaxChannels = 3
	e := newEnv(t, cfg)
	ann := user("user-ann", "Ann")
	e.open("c1", ann)
	for _, ch := range []string{"general", "two", "three"} {
		e.must("c1", ann, `{"action":"join","channel":"`+ch+`"}`)
	}
	e.must("c1", ann, `{"action":"send","channel":"general","text":"first","clientId":"dup"}`)
	e.gw.take("c1")
	historyBefore := len(e.history("general"))

	long := strings.Repeat("x", 4001)
	tests := []struct {
		name       string
		body       string
		fixture    string // instead of body: a testdata event as is
		code       string
		action     string
		allowWrite []string // key prefixes a rejected request may write to besides the connection's and user's rate buckets (CONN#c1, USER#user-ann), which every frame spends
	}{
		{name: "invalid JSON", body: `{"action":"send",`, code: "invalid_json"},
		{name: "not JSON", body: `hello`, code: "invalid_json"},
		{name: "empty body", body: ``, code: "invalid_json"},
		{name: "array", body: `[{"action":"ping"}]`, code: "invalid_json"},
		{name: "null", body: `null`, code: "invalid_json"},
		{name: "string", body: `"send"`, code: "invalid_json"},
		{name: "duplicate key", body: `{"action":"send","action":"ping"}`, code: "invalid_json"},
		{name: "binary frame", fixture: "binary", code: "invalid_json"},
		{name: "$default route", fixture: "default", code: "unknown_action"},
		{name: "unknown action", body: `{"action":"shout","channel":"general"}`, code: "unknown_action"},
		{name: "missing action", body: `{"channel":"general"}`, code: "invalid_field"},
		{name: "action wrong type", body: `{"action":["send"]}`, code: "invalid_field"},
		{name: "unknown field", body: `{"action":"send","channel":"general","text":"a","clientId":"x","to":"bob"}`, code: "invalid_field", action: "send"},
		{name: "send missing text", body: `{"action":"send","channel":"general","clientId":"x"}`, code: "invalid_field", action: "send"},
		{name: "send empty text", body: `{"action":"send","channel":"general","text":"","clientId":"x"}`, code: "invalid_field", action: "send"},
		{name: "send blank text", body: `{"action":"send","channel":"general","text":"  ","clientId":"x"}`, code: "invalid_field", action: "send"},
		{name: "send text number", body: `{"action":"send","channel":"general","text":42,"clientId":"x"}`, code: "invalid_field", action: "send"},
		{name: "send text over the limit", body: `{"action":"send","channel":"general","text":"` + long + `","clientId":"x"}`, code: "too_large", action: "send"},
		{name: "send missing clientId", body: `{"action":"send","channel":"general","text":"a"}`, code: "invalid_field", action: "send"},
		{name: "send clientId wrong type", body: `{"action":"send","channel":"general","text":"a","clientId":7}`, code: "invalid_field", action: "send"},
		{name: "send clientId bad", body: `{"action":"send","channel":"general","text":"a","clientId":"a b"}`, code: "invalid_field", action: "send"},
		{name: "send missing channel", body: `{"action":"send","text":"a","clientId":"x"}`, code: "invalid_field", action: "send"},
		{name: "send channel upper case", body: `{"action":"send","channel":"General","text":"a","clientId":"x"}`, code: "invalid_field", action: "send"},
		{name: "send channel with hash", body: `{"action":"send","channel":"gen#0","text":"a","clientId":"x"}`, code: "invalid_field", action: "send"},
		{name: "send channel too long", body: `{"action":"send","channel":"` + strings.Repeat("a", 65) + `","text":"a","clientId":"x"}`, code: "invalid_field", action: "send"},
		{name: "send channel not joined", body: `{"action":"send","channel":"random","text":"a","clientId":"x"}`, code: "not_member", action: "send", allowWrite: []string{"CONN#c1", "USER#user-ann"}},
		{name: "send clientId reused for other text", body: `{"action":"send","channel":"general","text":"second","clientId":"dup"}`, code: "invalid_field", action: "send", allowWrite: []string{"CONN#c1", "USER#user-ann", "IDEM#general#dup#", "CTR#general", "HIST#general"}}, // the seq taken before the claim found the reuse is settled at once (a tombstone)
		{name: "join bad channel", body: `{"action":"join","channel":"-x"}`, code: "invalid_field", action: "join"},
		{name: "join empty channel", body: `{"action":"join","channel":""}`, code: "invalid_field", action: "join"},
		{name: "join channel null", body: `{"action":"join","channel":null}`, code: "invalid_field", action: "join"},
		{name: "join over the channel limit", body: `{"action":"join","channel":"four"}`, code: "too_large", action: "join", allowWrite: []string{"CONN#c1", "USER#user-ann"}},
		{name: "leave not joined", body: `{"action":"leave","channel":"random"}`, code: "not_member", action: "leave", allowWrite: []string{"CONN#c1", "USER#user-ann", "CHAN#random#", "M#random#"}}, // membership deletes find nothing,
		{name: "history after negative", body: `{"action":"history","channel":"general","after":-1}`, code: "invalid_field", action: "history"},
		{name: "history after fraction", body: `{"action":"history","channel":"general","after":0.5}`, code: "invalid_field", action: "history"},
		{name: "history after string", body: `{"action":"history","channel":"general","after":"1"}`, code: "invalid_field", action: "history"},
		{name: "history limit zero", body: `{"action":"history","channel":"general","limit":0}`, code: "invalid_field", action: "history"},
		{name: "history limit over 100", body: `{"action":"history","channel":"general","limit":101}`, code: "invalid_field", action: "history"},
		{name: "history not joined", body: `{"action":"history","channel":"random"}`, code: "not_member", action: "history", allowWrite: []string{"CONN#c1", "USER#user-ann"}},
		{name: "members not joined", body: `{"action":"members","channel":"random"}`, code: "not_member", action: "members", allowWrite: []string{"CONN#c1", "USER#user-ann"}},
		{name: "members bad cursor", body: `{"action":"members","channel":"general","cursor":"not-ours"}`, code: "invalid_field", action: "members", allowWrite: []string{"CONN#c1", "USER#user-ann"}},
		{name: "ping with a field", body: `{"action":"ping","channel":"general"}`, code: "invalid_field", action: "ping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.db.Reset()
			var resp events.APIGatewayProxyResponse
			var err error
			requestID := ""
			if tt.fixture != "" {
				req := fixture(t, tt.fixture)
				req.RequestContext.ConnectionID = "c1"
				requestID = req.RequestContext.RequestID
				resp, err = e.chat.Handle(t.Context(), req)
			} else {
				resp, err = e.do("c1", ann, tt.body)
			}
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("response = %d, %v; want 200 and no error for a client mistake", resp.StatusCode, err)
			}
			frames := e.gw.take("c1")
			if len(frames) != 1 {
				t.Fatalf("sender got %d frames, want 1 error frame: %v", len(frames), frames)
			}
			f := frames[0]
			if f["type"] != "error" || f["code"] != tt.code || (f["action"] != nil && f["action"] != tt.action) || (f["action"] == nil && tt.action != "") {
				t.Errorf("frame = %v, want error code %q action %q", f, tt.code, tt.action)
			}
			if msg, _ := f["message"].(string); msg == "" {
				t.Errorf("error frame has no message: %v", f)
			}
			if id, _ := f["requestId"].(string); id == "" || (requestID != "" && id != requestID) {
				t.Errorf("error frame requestId = %v, want the request's id", f["requestId"])
			}
			for pk := range e.db.Stats().WritePKs {
				ok := false
				for _, prefix := range append([]string{"CONN#c1", "USER#user-ann"}, tt.allowWrite...) {
					ok = ok || strings.HasPrefix(pk, prefix)
				}
				if !ok {
					t.Errorf("rejected request wrote to %s", pk)
				}
			}
			if n := len(e.history("general")); n != historyBefore {
				t.Errorf("history of general has %d messages, want %d", n, historyBefore)
			}
			if n := len(e.history("random")); n != 0 {
				t.Errorf("history of random has %d messages, want 0", n)
			}
		})
	}
}

// A request on a connection the store does not know is unauthorized
// (reconnect): a join finds no connection item to add the channel to, a
// send reads it with the membership (CheckSend).
func TestRequestsOnAnUnregisteredConnectionAreRefused(t *testing.T) {
	e := newEnv(t, testConfig())
	for _, tt := range []struct{ body, code string }{
		{`{"action":"join","channel":"general"}`, "unauthorized"},
		{`{"action":"send","channel":"general","text":"x","clientId":"k"}`, "unauthorized"},
	} {
		resp, err := e.do("ghost", user("u", "U"), tt.body)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s = %d, %v; want 200", tt.body, resp.StatusCode, err)
		}
		if f := e.gw.take("ghost"); countCode(f, tt.code) != 1 {
			t.Errorf("%s got %v, want %s", tt.body, f, tt.code)
		}
	}
	if _, err := e.store.Connection(t.Context(), "ghost"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("a request on an unregistered connection created it: %v", err)
	}
}
