package gateway

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestUsageCountsBilledMessages drives one connection: two messages in (one
// over 32 KB, so two units), one post out through @connections, one to a
// virtual connection, and a close; the counters must say exactly that.
func TestUsageCountsBilledMessages(t *testing.T) {
	a := newTestAPI(t, apiOptions{})
	c := a.dial(t, "", nil)
	a.connect.next(t)
	write(t, c, `{"action":"send","text":"hi"}`)
	// Over 32 KB, in frames of at most 32 KB as API Gateway requires.
	big := `{"action":"send","text":"` + strings.Repeat("x", 40<<10) + `"}`
	w, err := c.Writer(t.Context(), websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	for rest := []byte(big); len(rest) > 0; rest = rest[min(len(rest), 30<<10):] {
		if _, err := w.Write(rest[:min(len(rest), 30<<10)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a.message.next(t)
	a.message.next(t)

	var id string
	for id = range a.gw.conns {
	}
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/dev/@connections/"+id, bytes.NewReader([]byte(`{"type":"message"}`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := read(t, c); got != `{"type":"message"}` {
		t.Fatalf("client read %q", got)
	}
	u := a.gw.Usage()
	if u.MessagesIn != 2 || u.UnitsIn != 3 || u.BytesIn != int64(len(big)+len(`{"action":"send","text":"hi"}`)) {
		t.Errorf("in: %d messages, %d units, %d bytes; want 2, 3 (the second is over 32 KB), %d", u.MessagesIn, u.UnitsIn, u.BytesIn, len(big)+30)
	}
	if u.MessagesOut != 1 || u.UnitsOut != 1 || u.ManagementCalls != 1 || u.Connects != 1 {
		t.Errorf("out %d (%d units), %d @connections calls, %d connects; want 1, 1, 1, 1", u.MessagesOut, u.UnitsOut, u.ManagementCalls, u.Connects)
	}
	if u.ConnectedMs < 0 || u.ConnectedMs > int64(time.Minute/time.Millisecond) {
		t.Errorf("connected %d ms, want the time since the dial", u.ConnectedMs)
	}
	_ = c.Close(1000, "")
	deadline := time.Now().Add(5 * time.Second)
	for a.gw.Usage().Disconnects != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if u2 := a.gw.Usage(); u2.Disconnects != 1 || u2.ConnectedMs < u.ConnectedMs {
		t.Errorf("after the close: %d disconnects, %d ms connected (was %d); want 1 and no less", u2.Disconnects, u2.ConnectedMs, u.ConnectedMs)
	}
}

func TestUsageCountsVirtualPosts(t *testing.T) {
	g, base := virtualAPI(t, Config{VirtualConnections: true})
	var reg struct{ ConnectionIds []string }
	adminCall(t, http.MethodPost, base+VirtualPath+"?count=2", &reg)
	for _, id := range reg.ConnectionIds {
		req, _ := http.NewRequest(http.MethodPost, base+"/dev/@connections/"+id, strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if u := g.Usage(); u.MessagesOut != 2 || u.ManagementCalls != 2 {
		t.Errorf("usage = %+v, want 2 messages out and 2 calls", u)
	}
}
