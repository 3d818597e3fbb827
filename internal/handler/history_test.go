package handler_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
)

func TestHistoryPagesInSeqOrder(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a")
	a := user("u-a", "User a")
	for i := 1; i <= 7; i++ {
		e.must("a", a, fmt.Sprintf(`{"action":"send","channel":"general","text":"m%d","clientId":"k%d"}`, i, i))
	}
	e.gw.take("a")
	tests := []struct {
		body     string
		wantSeqs string
		wantMore bool
		wantNext float64
	}{
		{`{"action":"history","channel":"general","limit":3}`, "1,2,3", true, 3},
		{`{"action":"history","channel":"general","after":3,"limit":3}`, "4,5,6", true, 6},
		{`{"action":"history","channel":"general","after":6}`, "7", false, 7},
		{`{"action":"history","channel":"general","after":7}`, "", false, 7},
		{`{"action":"history","channel":"general","after":999999}`, "", false, 999999},
	}
	for _, tt := range tests {
		e.must("a", a, tt.body)
		f := e.gw.take("a")
		if len(f) != 1 || f[0]["type"] != "history" {
			t.Fatalf("%s: frames %v", tt.body, f)
		}
		var seqs []string
		for _, m := range f[0]["messages"].([]any) {
			mm := m.(map[string]any)
			seqs = append(seqs, fmt.Sprint(mm["seq"]))
			if mm["text"] != "m"+fmt.Sprint(mm["seq"]) {
				t.Errorf("%s: message %v has the wrong text", tt.body, mm)
			}
		}
		if got := strings.Join(seqs, ","); got != tt.wantSeqs || f[0]["more"] != tt.wantMore || f[0]["next"] != tt.wantNext {
			t.Errorf("%s = seqs %q more %v next %v, want %q more %v next %v",
				tt.body, got, f[0]["more"], f[0]["next"], tt.wantSeqs, tt.wantMore, tt.wantNext)
		}
	}
}

func TestHistoryFitsOneFrame(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a")
	now := e.clock.Now()
	worst := strings.Repeat("\u0001", 4000) // 6 bytes each once escaped
	for seq := int64(1); seq <= 40; seq++ {
		m := chat.Message{Channel: "general", Seq: seq, Identity: chat.Identity{UserID: "u", UserName: "U"}, Text: worst, ClientID: "k", SentAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := e.store.PutMessage(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	e.must("a", user("u-a", "User a"), `{"action":"history","channel":"general","limit":100}`)
	f := e.gw.take("a")
	if len(f) != 1 {
		t.Fatalf("frames = %d, want 1", len(f))
	}
	b, _ := json.Marshal(f[0])
	n := len(f[0]["messages"].([]any))
	if len(b) > 128*1024 {
		t.Errorf("history frame is %d bytes, over API Gateway's 128 KB", len(b))
	}
	if n == 0 || n == 40 || f[0]["more"] != true || f[0]["next"] != float64(n) {
		t.Errorf("history frame has %d messages, more %v, next %v; want a cut page with more and next = %d", n, f[0]["more"], f[0]["next"], n)
	}
}
