package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestBucketRefillsAtRateUpToBurst(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBuckets(&Throttle{Default: &Limit{Rate: 2, Burst: 2}, Routes: map[string]Limit{"off": {Rate: 0, Burst: 0}}})
	b.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		route   string
		want    bool
	}{
		{0, "send", true}, {0, "send", true}, {0, "send", false}, // the burst, then empty
		{0, "join", true},                                                // a bucket per route
		{250 * time.Millisecond, "send", false},                          // half a token
		{250 * time.Millisecond, "send", true},                           // a whole one at 2/s
		{time.Hour, "send", true}, {0, "send", true}, {0, "send", false}, // capped at the burst
		{time.Hour, "off", false}, // burst 0 refuses everything
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := b.allow(s.route); got != s.want {
			t.Errorf("step %d (%s after +%v): allow = %v, want %v", i, s.route, s.advance, got, s.want)
		}
	}
	if !newBuckets(nil).allow("send") {
		t.Error("without throttling a request was refused")
	}
}

// TestStageThrottleFrames: a throttled message is answered with API
// Gateway's 429 frame and never reaches the integration; other routes keep
// their own buckets.
func TestStageThrottleFrames(t *testing.T) {
	a := newTestAPI(t, apiOptions{throttle: &Throttle{Routes: map[string]Limit{"send": {Rate: 0.001, Burst: 2}}}})
	c := a.dial(t, "", nil)
	id := rc(a.connect.next(t))["connectionId"].(string)
	for range 3 {
		write(t, c, `{"action":"send"}`)
	}
	var frame map[string]any
	if err := json.Unmarshal([]byte(read(t, c)), &frame); err != nil {
		t.Fatal(err)
	}
	if frame["message"] != "Too Many Requests" || frame["connectionId"] != id || frame["requestId"] == "" {
		t.Errorf("throttled frame = %v, want message Too Many Requests with connectionId %s and a requestId", frame, id)
	}
	for range 2 {
		a.message.next(t)
	}
	noEvent(t, a.message, 100*time.Millisecond, "third send")
	write(t, c, `{"action":"other"}`) // $default: not throttled
	if got := rc(a.message.next(t))["routeKey"]; got != RouteDefault {
		t.Errorf("routeKey = %v, want $default", got)
	}
}

func TestConnectThrottledWith429(t *testing.T) {
	a := newTestAPI(t, apiOptions{throttle: &Throttle{Routes: map[string]Limit{RouteConnect: {Rate: 0.001, Burst: 1}}}})
	_ = a.dial(t, "", nil)
	a.connect.next(t)
	c, resp, err := a.tryDial("", nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("second connection accepted, want 429")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection: %v (response %v), want 429", err, resp)
	}
	noEvent(t, a.connect, 100*time.Millisecond, "$connect of a throttled connection")
}

func TestVanishGrace(t *testing.T) {
	tests := []struct {
		name        string
		grace       time.Duration
		wantPost    int // POST status right after the drop
		wantAtLeast time.Duration
	}{
		{"no grace: gone at once", 0, http.StatusGone, 0},
		{"grace: kept registered", 700 * time.Millisecond, http.StatusOK, 600 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t, apiOptions{vanish: tt.grace})
			c := a.dial(t, "", nil)
			id := rc(a.connect.next(t))["connectionId"].(string)
			registered(t, a, id)
			_ = c.CloseNow() // the network is gone: no close frame
			start := time.Now()
			time.Sleep(100 * time.Millisecond)
			if got, _ := call(t, a, http.MethodPost, id, []byte("x")); got != tt.wantPost {
				t.Errorf("POST after the drop: %d, want %d", got, tt.wantPost)
			}
			if got, _ := call(t, a, http.MethodGet, id, nil); got != tt.wantPost {
				t.Errorf("GET after the drop: %d, want %d", got, tt.wantPost)
			}
			ev := rc(a.discon.next(t))
			if d := time.Since(start); d < tt.wantAtLeast || d > tt.wantAtLeast+time.Second {
				t.Errorf("$disconnect after %v, want after %v (within a second)", d, tt.wantAtLeast)
			}
			if ev["disconnectStatusCode"] != float64(1006) {
				t.Errorf("disconnectStatusCode = %v, want 1006", ev["disconnectStatusCode"])
			}
			if got, _ := call(t, a, http.MethodPost, id, []byte("x")); got != http.StatusGone {
				t.Errorf("POST after $disconnect: %d, want 410", got)
			}
		})
	}
	t.Run("DELETE ends the grace", func(t *testing.T) {
		a := newTestAPI(t, apiOptions{vanish: time.Hour})
		c := a.dial(t, "", nil)
		id := rc(a.connect.next(t))["connectionId"].(string)
		registered(t, a, id)
		_ = c.CloseNow()
		time.Sleep(100 * time.Millisecond)
		if got, _ := call(t, a, http.MethodDelete, id, nil); got != http.StatusNoContent {
			t.Errorf("DELETE: %d, want 204", got)
		}
		a.discon.next(t)
	})
	t.Run("a clean close is not a vanish", func(t *testing.T) {
		a := newTestAPI(t, apiOptions{vanish: time.Hour})
		c := a.dial(t, "", nil)
		a.connect.next(t)
		_ = c.Close(websocket.StatusNormalClosure, "bye")
		ev := rc(a.discon.next(t))
		if ev["disconnectStatusCode"] != float64(1000) || !strings.Contains(ev["disconnectReason"].(string), "bye") {
			t.Errorf("$disconnect = %v, want 1000 bye", ev)
		}
	})
}
