package handler_test

import (
	"fmt"
	"testing"
)

// withChannels is user(id, name) with the authorizer's channels value, as
// it passes a token's wschat:channels claim.
func withChannels(id, channels string) map[string]any {
	a := user(id, id)
	a["channels"] = channels
	return a
}

// TestCapabilities: each right, pattern and default is checked on the
// action that needs it, and a refusal is a forbidden error frame.
func TestCapabilities(t *testing.T) {
	const (
		join    = `{"action":"join","channel":"%s"}`
		send    = `{"action":"send","channel":"%s","text":"hi","clientId":"c1"}`
		history = `{"action":"history","channel":"%s"}`
		members = `{"action":"members","channel":"%s"}`
	)
	tests := []struct {
		name      string
		defaults  string // Config.DefaultChannels
		auth      map[string]any
		joinFirst bool // join the channel (must succeed) before body
		body      string
		channel   string
		want      string // the answer's type, or error code
	}{
		{"no claim, closed default: join", "", user("ann", "ann"), false, join, "general", "forbidden"},
		{"no claim, open default: join", "*", user("ann", "ann"), false, join, "general", "joined"},
		{"no claim, default general: other channel", "general", user("ann", "ann"), false, join, "random", "forbidden"},
		{"claim overrides open default", "*", withChannels("ann", "v1:general=rwp"), false, join, "random", "forbidden"},
		{"empty claim grants nothing", "*", withChannels("ann", "v1:"), false, join, "general", "forbidden"},
		{"exact name: join", "", withChannels("ann", "v1:general=rwp"), false, join, "general", "joined"},
		{"pattern: join", "", withChannels("ann", "v1:team-*=r"), false, join, "team-a", "joined"},
		{"pattern: not matching", "", withChannels("ann", "v1:team-*=r"), false, join, "teams", "forbidden"},
		{"read only: send", "", withChannels("ann", "v1:general=r"), true, send, "general", "forbidden"},
		{"read+write: send", "", withChannels("ann", "v1:general=rw"), true, send, "general", "ack"},
		{"read only: history", "", withChannels("ann", "v1:general=r"), true, history, "general", "history"},
		{"write only: history", "", withChannels("ann", "v1:general=w"), false, history, "general", "forbidden"},
		{"write only: join", "", withChannels("ann", "v1:general=w"), false, join, "general", "forbidden"},
		{"no presence: members", "", withChannels("ann", "v1:general=rw"), true, members, "general", "forbidden"},
		{"presence: members", "", withChannels("ann", "v1:general=rp"), true, members, "general", "members"},
		{"pattern grants presence", "", withChannels("ann", "v1:gen*=r general=p"), true, members, "general", "members"},
		{"forged context value grants nothing", "*", withChannels("ann", "general#x"), false, join, "general", "forbidden"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.DefaultChannels = tt.defaults
			e := newEnv(t, cfg)
			id := fmt.Sprintf("cap%02d", i)
			e.open(id, tt.auth)
			if tt.joinFirst {
				e.must(id, tt.auth, fmt.Sprintf(join, tt.channel))
				if f := e.gw.take(id); len(f) != 1 || f[0]["type"] != "joined" {
					t.Fatalf("join first = %v", f)
				}
			}
			e.must(id, tt.auth, fmt.Sprintf(tt.body, tt.channel))
			// A send's sender also gets the "message" before its ack:
			// the answer is the last frame.
			f := e.gw.take(id)
			if len(f) == 0 {
				t.Fatal("no answer")
			}
			last := f[len(f)-1]
			got, _ := last["type"].(string)
			if got == "error" {
				got, _ = last["code"].(string)
			}
			if got != tt.want {
				t.Errorf("answer = %s (%v), want %s", got, f, tt.want)
			}
			if got == "forbidden" && len(e.history(tt.channel)) != 0 {
				t.Errorf("a forbidden request stored history")
			}
		})
	}
}

// TestConnectStoresCapabilities: what the token granted is kept on the
// connection item.
func TestConnectStoresCapabilities(t *testing.T) {
	e := newEnv(t, testConfig())
	e.open("capc", withChannels("ann", "v1:general=r"))
	c, err := e.store.Connection(t.Context(), "capc")
	if err != nil {
		t.Fatal(err)
	}
	if c.Capabilities != "v1:general=r" {
		t.Errorf("stored capabilities = %q, want %q", c.Capabilities, "v1:general=r")
	}
}

// TestControlCharactersStoreNothing: through the whole chat handler, a text
// with a control character is refused and never reaches history.
func TestControlCharactersStoreNothing(t *testing.T) {
	e := newEnv(t, testConfig())
	ann := user("ann", "Ann")
	e.open("t1", ann)
	e.must("t1", ann, `{"action":"join","channel":"general"}`)
	e.gw.take("t1")
	for i, text := range []string{`a\u0000b`, `\u001b[2J`, `x\u0085`, `\u007f`} {
		e.must("t1", ann, fmt.Sprintf(`{"action":"send","channel":"general","text":"%s","clientId":"k%d"}`, text, i))
		f := e.gw.take("t1")
		if len(f) != 1 || f[0]["code"] != "invalid_field" {
			t.Errorf("text %s: answer %v, want invalid_field", text, f)
		}
	}
	e.must("t1", ann, "{\"action\":\"send\",\"channel\":\"general\",\"text\":\"\xff\",\"clientId\":\"u\"}")
	if f := e.gw.take("t1"); len(f) != 1 || f[0]["code"] != "invalid_json" {
		t.Errorf("invalid UTF-8: answer %v, want invalid_json", f)
	}
	if n := len(e.history("general")); n != 0 {
		t.Errorf("history has %d messages, want 0", n)
	}
	e.must("t1", ann, `{"action":"send","channel":"general","text":"two\nlines\tand a tab","clientId":"ok"}`)
	if f := e.gw.take("t1"); countType(f, "ack") != 1 {
		t.Errorf("tab and newline: answer %v, want an ack", f)
	}
}
