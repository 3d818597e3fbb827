package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wschat/wschat/internal/contract"
)

// TestHostileClientDoesNotStallOthers reproduces issue #14's attack run: a
// client sends a burst of frames the chat function answers (issue #14 used
// pings; API Gateway now answers those itself, so an unknown action, which
// the function answers with an error frame and no storage, takes their
// place) without reading their answers, then
// drops its TCP connection without a close frame. Before the fix every other
// user's requests timed out for tens of seconds (each queued reply held a chat
// instance until a 10 s write timeout). A bystander doing send→ack must stay
// within its normal range, and the emulator must notice the loss at once:
// @connections answers 410 and $disconnect runs (the bystander sees `left`).
func TestHostileClientDoesNotStallOthers(t *testing.T) {
	pings := 100
	if os.Getenv("WSCHAT_SOAK") == "1" {
		pings = 2000
	}
	e := startEmulator(t, "--template", realTemplate(t), "--stage-throttle", "off")
	bystander := connectAs(t, e, "bystander")
	bystander.join(t, "attack")

	baseline := paceSends(t, bystander, "base", 12, nil)

	known := len(connectedLine.FindAllString(e.log.String(), -1))
	hostile := dial(t, e.wsURL, &websocket.DialOptions{Subprotocols: []string{contract.SubprotocolName, mintToken(t, e, "hostile")}})
	hostileID := newConnectionID(t, e, known)
	send(t, hostile, map[string]any{"action": "join", "channel": "attack"})
	bystander.expect(t, "joined", map[string]any{"channel": "attack", "userId": "hostile"})

	// The attack: frames back to back, nothing read, then the socket just closes.
	dropped := make(chan time.Time, 1)
	recovered := make(chan recovery, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for range pings {
			if err := hostile.Write(ctx, websocket.MessageText, []byte(`{"action":"dance"}`)); err != nil {
				break
			}
		}
		// Let the gateway take the burst in and start answering it. On a real
		// network the frames arrive long before the peer's reset; on loopback
		// an immediate reset would discard them unread, and nothing would be
		// tested.
		time.Sleep(100 * time.Millisecond)
		_ = hostile.CloseNow() // no close frame: the TCP connection is simply gone
		at := time.Now()
		dropped <- at
		recovered <- waitRecovered(e, hostileID, at)
	}()
	underAttack := paceSends(t, bystander, "attack", 12, dropped)

	bp50, bp99 := percentiles(baseline)
	ap50, ap99 := percentiles(underAttack)
	t.Logf("%d frames: bystander send→ack baseline p50 %v p99 %v (%d sends); under attack p50 %v p99 %v (%d sends)",
		pings, bp50, bp99, len(baseline), ap50, ap99, len(underAttack))
	if limit := max(5*bp99, bp99+500*time.Millisecond); ap99 > limit {
		t.Errorf("under attack p99 %v, want at most %v (baseline p99 %v)", ap99, limit, bp99)
	}

	r := <-recovered
	t.Logf("after the drop: POST answered %d after %v; $disconnect done after %v", r.status, r.gone, r.disconnected)
	if r.status != http.StatusGone || r.gone > time.Second {
		t.Errorf("POST to the dropped connection: status %d %v after the drop, want 410 within 1s", r.status, r.gone)
	}
	// $disconnect is a function invocation with a fan-out of `left`; the
	// gateway starts it at once, the handler needs a little longer.
	if r.disconnected < 0 || r.disconnected > 2*time.Second {
		t.Errorf("$disconnect of the dropped connection finished %v after the drop, want within 2s (-1: never)", r.disconnected)
	}
}

// paceSends has c send n messages, one every 250 ms (under the handler's
// per-connection rate limit), and returns each send→ack latency. With stop it
// keeps going until n are done and 6 s have passed since stop fired, so the
// measurement spans the attack and its aftermath (the replies queued for the
// dead connection); stop's value is put back for the caller.
func paceSends(t *testing.T, c *chatClient, prefix string, n int, stop chan time.Time) []time.Duration {
	t.Helper()
	var out []time.Duration
	stopped := stop == nil
	var until time.Time
	for i := 0; i < n || !stopped || time.Now().Before(until); i++ {
		if i > 400 {
			t.Fatalf("the attack did not end within %d sends", i)
		}
		id := fmt.Sprintf("%s-%d", prefix, i)
		start := time.Now()
		c.send(t, map[string]any{"action": "send", "channel": "attack", "text": "hi", "clientId": id})
		c.expect(t, "ack", map[string]any{"clientId": id})
		out = append(out, time.Since(start))
		time.Sleep(250 * time.Millisecond)
		if !stopped {
			select {
			case at := <-stop:
				stop <- at
				stopped = true
				until = at.Add(6 * time.Second)
			default:
			}
		}
	}
	return out
}

// percentiles returns the nearest-rank p50 and p99 of ds.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return rank(0.50), rank(0.99)
}

var connectedLine = regexp.MustCompile(`msg=connected connectionId=(\S+)`)

// newConnectionID is the id of the connection accepted after the first
// known ones, from the gateway's log (the protocol never tells a client its
// own id). The log line may come just after the client's dial returns.
func newConnectionID(t *testing.T, e *emulator, known int) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		m := connectedLine.FindAllStringSubmatch(e.log.String(), -1)
		if len(m) <= known {
			continue
		}
		id := m[known][1]
		if unquoted, err := strconv.Unquote(id); err == nil {
			id = unquoted // slog quotes values with '=' or '+'
		}
		return id
	}
	t.Fatal("no new connected line in the emulator log within 5s")
	return ""
}

// recovery is how long after a drop the emulator noticed it.
type recovery struct {
	status       int           // the last status of a POST to the connection
	gone         time.Duration // until POST answered 410
	disconnected time.Duration // until the $disconnect handler logged "disconnected"; -1 if not within 5 s
}

// waitRecovered posts to connection id until it answers 410, then watches the
// log for its $disconnect, each for at most 5 s after since.
func waitRecovered(e *emulator, id string, since time.Time) recovery {
	stage := e.wsURL[strings.LastIndexByte(e.wsURL, '/')+1:]
	url := e.baseURL + "/" + stage + "/@connections/" + id
	client := &http.Client{Timeout: 5 * time.Second}
	r := recovery{disconnected: -1}
	for time.Since(since) < 5*time.Second {
		// @connections takes only requests signed with the local
		// credentials, as the handlers sign them.
		resp, err := signedPost(client, url, []byte(`{"type":"probe"}`))
		if err == nil {
			r.status = resp.StatusCode
			resp.Body.Close()
			if r.status == http.StatusGone {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.gone = time.Since(since)
	done := `"message":"disconnected"`
	conn := `"connectionId":` + fmt.Sprintf("%q", id)
	for time.Since(since) < 5*time.Second {
		for _, line := range strings.Split(e.log.String(), "\n") {
			if strings.Contains(line, "[disconnect#") && strings.Contains(line, done) && strings.Contains(line, conn) {
				r.disconnected = time.Since(since)
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}
