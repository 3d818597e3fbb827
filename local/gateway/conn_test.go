package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// call makes one @connections request and returns its status and duration.
func call(t *testing.T, a *testAPI, method, id string, body []byte) (int, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+"/dev/@connections/"+id, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s @connections/%s: %v", method, id, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// registered waits until id answers GET: the $connect event comes before
// the gateway registers the connection, as on AWS, where a post from
// $connect answers 410.
func registered(t *testing.T, a *testAPI, id string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if status, _ := call(t, a, http.MethodGet, id, nil); status == http.StatusOK {
			return
		}
	}
	t.Fatalf("connection %s not registered within 2s", id)
}

// noEvent fails if f records an event within d.
func noEvent(t *testing.T, f *fn, d time.Duration, what string) {
	t.Helper()
	select {
	case p := <-f.got:
		t.Errorf("%s: got event %.200s, want none", what, p)
	case <-time.After(d):
	}
}

// TestSlowReaderNeverHoldsPosters: posts to a client that reads nothing
// return at once, and once its queue is full the client is dropped (410,
// $disconnect) instead of holding every poster until a write timeout.
func TestSlowReaderNeverHoldsPosters(t *testing.T) {
	a := newTestAPI(t, apiOptions{})
	_ = a.dial(t, "", nil)
	id := rc(a.connect.next(t))["connectionId"].(string)
	registered(t, a, id)
	frame := bytes.Repeat([]byte("z"), MaxMessageBytes)

	posts, status := 0, 0
	for posts < 2*maxOutbound && status != http.StatusGone {
		var took time.Duration
		status, took = call(t, a, http.MethodPost, id, frame)
		posts++
		if took > time.Second {
			t.Fatalf("post %d took %v, want it queued at once", posts, took)
		}
	}
	if status != http.StatusGone {
		t.Fatalf("after %d unread 128 KB posts the status is %d, want 410 (client dropped)", posts, status)
	}
	t.Logf("client dropped after %d unread posts", posts)
	if got := rc(a.discon.next(t))["disconnectStatusCode"]; got != float64(1006) {
		t.Errorf("disconnectStatusCode = %v, want 1006", got)
	}
	if got, _ := call(t, a, http.MethodGet, id, nil); got != http.StatusGone {
		t.Errorf("GET after the drop: %d, want 410", got)
	}
}

// TestQueuedRepliesArriveWholeAndInOrder is the positive control of the
// queue: a client that reads late gets every message, whole, in post order.
func TestQueuedRepliesArriveWholeAndInOrder(t *testing.T) {
	a := newTestAPI(t, apiOptions{})
	c := a.dial(t, "", nil)
	c.SetReadLimit(MaxMessageBytes)
	id := rc(a.connect.next(t))["connectionId"].(string)
	registered(t, a, id)
	const n = 20
	for i := range n {
		frame := append([]byte(fmt.Sprintf("%03d", i)), bytes.Repeat([]byte("y"), 100*1024)...)
		if status, _ := call(t, a, http.MethodPost, id, frame); status != http.StatusOK {
			t.Fatalf("post %d: status %d, want 200", i, status)
		}
	}
	for i := range n {
		got := read(t, c)
		if want := fmt.Sprintf("%03d", i); !strings.HasPrefix(got, want) || len(got) != 3+100*1024 {
			t.Fatalf("message %d: %.3s… of %d bytes, want %s… of %d", i, got, len(got), want, 3+100*1024)
		}
	}
}

// TestPeerLossSeenWhileMessagesWait: with every in-flight slot of the
// connection taken by slow invocations, the gateway still reads, so a peer
// that drops without a close frame is deregistered at once.
func TestPeerLossSeenWhileMessagesWait(t *testing.T) {
	release := make(chan struct{})
	a := newTestAPI(t, apiOptions{message: func([]byte) ([]byte, error) {
		<-release
		return []byte(`{"statusCode":200}`), nil
	}})
	t.Cleanup(func() { close(release) }) // runs before the gateway's Close
	c := a.dial(t, "", nil)
	id := rc(a.connect.next(t))["connectionId"].(string)
	for i := range 3 * maxInFlight {
		write(t, c, fmt.Sprintf(`{"action":"send","n":%d}`, i))
	}
	for range maxInFlight {
		a.message.next(t) // every slot is now held
	}
	_ = c.CloseNow()
	start := time.Now()
	ev := rc(a.discon.next(t))
	if d := time.Since(start); d > time.Second {
		t.Errorf("$disconnect %v after the drop, want within 1s", d)
	}
	if ev["disconnectStatusCode"] != float64(1006) {
		t.Errorf("disconnectStatusCode = %v, want 1006", ev["disconnectStatusCode"])
	}
	if status, took := call(t, a, http.MethodPost, id, []byte("x")); status != http.StatusGone || took > time.Second {
		t.Errorf("POST after the drop: %d in %v, want 410 at once", status, took)
	}
}

func TestInvalidUTF8ClosesWith1007(t *testing.T) {
	tests := []struct {
		name string
		text []byte
	}{
		{"lone 0xff", []byte{0xff}},
		{"overlong slash", []byte{0xc0, 0xaf}},
		{"CESU-8 surrogate", []byte{0xed, 0xa0, 0x80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t, apiOptions{})
			c := a.dial(t, "", nil)
			a.connect.next(t)
			msg := append(append([]byte(`{"action":"send","text":"`), tt.text...), `"}`...)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
				t.Fatal(err)
			}
			if code := closeStatus(t, c, 5*time.Second); code != websocket.StatusInvalidFramePayloadData {
				t.Errorf("close code %v, want 1007", code)
			}
			if got := rc(a.discon.next(t))["disconnectStatusCode"]; got != float64(1007) {
				t.Errorf("disconnectStatusCode = %v, want 1007", got)
			}
			noEvent(t, a.message, 100*time.Millisecond, "integration after invalid UTF-8")
		})
	}
	t.Run("valid multi-byte text passes unchanged", func(t *testing.T) {
		a := newTestAPI(t, apiOptions{})
		c := a.dial(t, "", nil)
		a.connect.next(t)
		msg := `{"action":"send","text":"é😀€"}`
		write(t, c, msg)
		if got := a.message.next(t)["body"]; got != msg {
			t.Errorf("body = %q, want %q", got, msg)
		}
	})
}

// TestPendingBoundAnswersTooManyRequests: past maxPending waiting messages a
// connection's message is answered with the throttle frame, not queued.
func TestPendingBoundAnswersTooManyRequests(t *testing.T) {
	release := make(chan struct{})
	a := newTestAPI(t, apiOptions{message: func([]byte) ([]byte, error) {
		<-release
		return []byte(`{"statusCode":200}`), nil
	}})
	t.Cleanup(func() { close(release) })
	c := a.dial(t, "", nil)
	a.connect.next(t)
	const extra = 3
	for i := range maxPending + extra {
		write(t, c, fmt.Sprintf(`{"action":"send","n":%d}`, i))
	}
	for i := range extra {
		if got := read(t, c); !strings.Contains(got, `"message": "Too Many Requests"`) {
			t.Fatalf("frame %d = %s, want the throttle frame", i, got)
		}
	}
}
