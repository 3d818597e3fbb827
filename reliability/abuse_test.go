package reliability

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/emutest"
)

// abuseTally counts the abuse cases: each is tried once, and is either
// refused cleanly (the documented status, error code or close) or accepted
// wrongly (a test failure).
type abuseTally struct {
	mu                     sync.Mutex
	tried, refused, wrongs int
}

func (a *abuseTally) check(t *testing.T, name string, refusedCleanly bool, got string) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tried++
	if refusedCleanly {
		a.refused++
		// Every outcome in the -v log, so a run against other code (the
		// pre-#15 comparison, tools/abuseprecheck.sh) shows what each case met.
		t.Logf("abuse case %q refused cleanly: %s", name, got)
		return
	}
	a.wrongs++
	t.Errorf("abuse case %q accepted wrongly: %s", name, got)
}

// codeOf is the error code of a request's outcome ("ok" when it succeeded).
func codeOf(err error) string {
	var fe *emutest.FrameError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &fe):
		return fe.Code()
	case errors.Is(err, emutest.ErrClosed):
		return "closed"
	}
	return err.Error()
}

// TestReliabilityAbuse runs a hostile client's attempts against the dev
// stack: bad tokens, channels beyond the token's capabilities, too many
// connections and requests for one user, forged cursors, bad text, a web
// page against the local listeners, impersonation by name and unusable
// user ids, floods of invalid frames and of sends into one channel, items
// an abandoned channel leaves, private channels, direct messages, expired,
// foreign and revoked tokens (abuse_authz_test.go), muted and banned users
// and members acting as moderators (abuse_moderation_test.go), and a ping/garbage
// flood, while a bystander's send→ack latency is measured with and without
// the flood in the same run.
func TestReliabilityAbuse(t *testing.T) {
	// The stack's route throttling of ping and $default is part of what is
	// under test: keep the template's stage throttle (other harnesses turn
	// it off).
	e := startEmulator(t, emutest.Options{PostLatency: 20 * time.Millisecond, KeepStageThrottle: true,
		Args: []string{"--virtual-connections", "--schedule-interval", "1s"},
		FunctionEnv: append(append([]string(nil), authzFunctionEnv...),
			fmt.Sprintf("%s:%s=%d", contract.FunctionChat, contract.EnvChannelRate, abuseChannelRateLimit))})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var tally abuseTally

	abuseTokens(ctx, t, e, &tally)
	abuseCapabilities(ctx, t, e, &tally)
	abuseConnectionCap(ctx, t, e, &tally)
	abuseUserRate(ctx, t, e, &tally)
	abuseCursorsAndText(ctx, t, e, &tally)
	// Issue #21 (abuse_authz_test.go).
	abuseAuthz(ctx, t, e, &tally)
	// Issue #21 part 2: moderation (abuse_moderation_test.go).
	abuseModeration(ctx, t, e, &tally)
	// Issue #25 (abuse_security_test.go).
	abuseLocalListeners(ctx, t, e, &tally)
	abuseNamesAndIdentity(ctx, t, e, &tally)
	abuseFloodsCost(ctx, t, e, &tally)
	flood := abuseFlood(ctx, t, e, &tally)

	crashes := strings.Count(e.Tail(100000), "panic:")
	if crashes != 0 {
		t.Errorf("%d handler panics in the emulator log", crashes)
	}
	t.Logf("abuse figures: cases tried %d, refused cleanly %d, accepted wrongly %d, crashes %d; %s",
		tally.tried, tally.refused, tally.wrongs, crashes, flood)
	fmt.Printf("abuse: cases tried %d, refused cleanly %d, accepted wrongly %d, crashes %d; %s\n",
		tally.tried, tally.refused, tally.wrongs, crashes, flood)
}

// dialStatus dials with token and returns the client (nil on failure) and
// the HTTP status of a refused handshake.
func dialStatus(ctx context.Context, e *emutest.Emulator, user, token string) (*emutest.Client, string) {
	c, err := emutest.Dial(ctx, e.DialURL(token), user, emutest.ClientOptions{Record: true})
	if err != nil {
		for _, s := range []string{"401", "403", "429", "500"} {
			if strings.Contains(err.Error(), "(HTTP "+s+")") {
				return nil, s
			}
		}
		return nil, err.Error()
	}
	return c, "101"
}

func abuseTokens(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally) {
	good, err := e.Token(ctx, "tok")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	cases := map[string]string{
		"no token":        "",
		"not a JWT":       "garbage",
		"alg none":        b64([]byte(`{"alg":"none","kid":"x"}`)) + "." + parts[1] + ".",
		"forged payload":  parts[0] + "." + b64([]byte(`{"sub":"admin","iss":"x","exp":9999999999}`)) + "." + parts[2],
		"bad signature":   parts[0] + "." + parts[1] + "." + b64(make([]byte, 64)),
		"forged channels": parts[0] + "." + b64([]byte(`{"sub":"tok","wschat:channels":"*"}`)) + "." + parts[2],
	}
	for name, tok := range cases {
		c, status := dialStatus(ctx, e, "tok", tok)
		if c != nil {
			_ = c.Close()
		}
		tally.check(t, "token: "+name, status == "401", "handshake "+status)
	}
}

func abuseCapabilities(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally) {
	tok, err := e.TokenWithChannels(ctx, "capped", "general=r team-*=rw")
	if err != nil {
		t.Fatal(err)
	}
	c, status := dialStatus(ctx, e, "capped", tok)
	if c == nil {
		t.Fatalf("dial with a channels claim: %s", status)
	}
	defer c.Close()
	// Positive controls: what the token grants works.
	for _, ch := range []string{"general", "team-a"} {
		if err := c.Join(ctx, ch); err != nil {
			t.Fatalf("join %s, which the token grants: %v", ch, err)
		}
	}
	if _, err := c.Send(ctx, "team-a", "allowed", "cap-ok"); err != nil {
		t.Fatalf("send to team-a, which the token grants: %v", err)
	}
	// Each action's answer on success: a case the server wrongly accepts
	// ends at once as "ok", rather than waiting out the suite's context
	// (which left every later case to fail on a deadline).
	answer := map[string]string{"join": "joined", "send": "ack", "history": "history", "members": "members"}
	req := func(body map[string]any, action string) string {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := c.Request(ctx, body, action, func(f emutest.Frame) bool { return f.Type == answer[action] })
		return codeOf(err)
	}
	cases := []struct {
		name   string
		body   map[string]any
		action string
	}{
		{"join a channel not granted", map[string]any{"action": "join", "channel": "secret"}, "join"},
		{"join a pattern's near miss", map[string]any{"action": "join", "channel": "teams"}, "join"},
		{"send with read only", map[string]any{"action": "send", "channel": "general", "text": "x", "clientId": "cap-1"}, "send"},
		{"history of a channel not granted", map[string]any{"action": "history", "channel": "secret"}, "history"},
		{"members without presence", map[string]any{"action": "members", "channel": "general"}, "members"},
	}
	for _, tt := range cases {
		got := req(tt.body, tt.action)
		tally.check(t, "capability: "+tt.name, got == "forbidden", got)
	}
}

func abuseConnectionCap(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally) {
	tok, err := e.Token(ctx, "hog")
	if err != nil {
		t.Fatal(err)
	}
	var open []*emutest.Client
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	const capPerUser = 10 // the dev stack's MaxConnectionsPerUser
	for i := range capPerUser + 3 {
		c, status := dialStatus(ctx, e, "hog", tok)
		if c != nil {
			open = append(open, c)
		}
		if i >= capPerUser {
			tally.check(t, fmt.Sprintf("connection %d of one user", i+1), status == "429", "handshake "+status)
		} else if c == nil {
			t.Fatalf("connection %d of %d was refused: %s", i+1, capPerUser, status)
		}
	}
}

// abuseUserRate: ten connections of one user fire 8 requests each at once;
// per connection that is within the burst, together it is not.
func abuseUserRate(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally) {
	tok, err := e.Token(ctx, "spammer")
	if err != nil {
		t.Fatal(err)
	}
	var clients []*emutest.Client
	for range 10 {
		c, status := dialStatus(ctx, e, "spammer", tok)
		if c == nil {
			t.Fatalf("dial: %s", status)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	var served, limited atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	// One request at a time per connection (answers cannot be told apart
	// otherwise), all connections at once.
	for _, c := range clients {
		wg.Go(func() {
			for k := range 8 {
				body := map[string]any{"action": "history", "channel": fmt.Sprintf("spam-%d", k)}
				_, err := c.Request(ctx, body, "history", func(f emutest.Frame) bool { return f.Type == "history" })
				if codeOf(err) == "rate_limited" {
					limited.Add(1)
				} else {
					served.Add(1) // not_member: past the limits
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	// The dev stack: 10 requests/s per user, burst 20.
	bound := 20 + int64(10*elapsed) + 1
	tally.check(t, "per-user rate over 10 connections", served.Load() <= bound && limited.Load() > 0,
		fmt.Sprintf("%d of 80 served in %.1fs, bound %d", served.Load(), elapsed, bound))
}

func abuseCursorsAndText(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally) {
	tok, err := e.Token(ctx, "prober")
	if err != nil {
		t.Fatal(err)
	}
	c, status := dialStatus(ctx, e, "prober", tok)
	if c == nil {
		t.Fatalf("dial: %s", status)
	}
	defer c.Close()
	if err := c.Join(ctx, "probe"); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for name, cur := range map[string]string{"0:A": b64([]byte("0:A")), "0:HIST#x": b64([]byte("0:HIST#x")), "zeros": b64(make([]byte, 16))} {
		_, err := c.Request(ctx, map[string]any{"action": "members", "channel": "probe", "cursor": cur}, "members",
			func(f emutest.Frame) bool { return f.Type == "members" })
		tally.check(t, "forged cursor "+name, codeOf(err) == "invalid_field", codeOf(err))
	}
	for name, text := range map[string]string{"NUL": "a\x00b", "escape": "\x1b[2J", "C1": "x\u0085"} {
		_, err := c.Send(ctx, "probe", text, "ctl-"+name)
		tally.check(t, "control character "+name, codeOf(err) == "invalid_field", codeOf(err))
	}
	for name, raw := range map[string]string{"lone 0xff": "\xff", "overlong": "\xc0\xaf", "CESU-8": "\xed\xa0\x80"} {
		v, status := dialStatus(ctx, e, "prober", tok)
		if v == nil {
			t.Fatalf("dial: %s", status)
		}
		_ = v.Write(ctx, `{"action":"send","channel":"probe","text":"`+raw+`","clientId":"utf"}`)
		select {
		case <-v.Done():
		case <-time.After(10 * time.Second):
		}
		ended := v.Ended()
		tally.check(t, "invalid UTF-8 "+name, websocket.CloseStatus(ended) == websocket.StatusInvalidFramePayloadData, fmt.Sprint(ended))
		_ = v.CloseNow()
	}
	msgs, err := c.History(ctx, "probe", 0)
	if err != nil {
		t.Fatal(err)
	}
	tally.check(t, "history after bad text", len(msgs) == 0, fmt.Sprintf("%d messages stored", len(msgs)))
}

// abuseFlood measures a bystander's send→ack p99 alone, then while three
// connections flood pings and garbage (reconnecting when closed), and
// reports both and what the flood cost.
func abuseFlood(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally) string {
	tok, err := e.Token(ctx, "bystander")
	if err != nil {
		t.Fatal(err)
	}
	by, status := dialStatus(ctx, e, "bystander", tok)
	if by == nil {
		t.Fatalf("dial: %s", status)
	}
	defer by.Close()
	if err := by.Join(ctx, "calm"); err != nil {
		t.Fatal(err)
	}
	// 100 sends a phase, so that p99 is the second-slowest, not the slowest
	// of one unlucky moment on shared cores.
	const sends = 100
	measure := func(phase string) time.Duration {
		var lat []time.Duration
		for i := range sends {
			start := time.Now()
			if _, err := by.Send(ctx, "calm", "hello", fmt.Sprintf("%s-%d", phase, i)); err != nil {
				t.Fatalf("bystander send %s-%d: %v", phase, i, err)
			}
			lat = append(lat, time.Since(start))
			time.Sleep(200 * time.Millisecond) // within the bystander's own 5/s
		}
		slices.Sort(lat)
		return lat[(len(lat)*99+99)/100-1]
	}
	calm := measure("calm")

	var sent, answered, pongs, throttled, closed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			flooder(ctx, e, fmt.Sprintf("flood-%d", i), stop, &sent, &answered, &pongs, &throttled, &closed)
		})
	}
	time.Sleep(500 * time.Millisecond)
	stormy := measure("flood")
	close(stop)
	wg.Wait()

	ratio := float64(stormy) / float64(calm)
	// The ping and $default routes' own throttle answers most of the flood
	// at the gateway, pings never reach the function (API Gateway answers
	// them, a MOCK integration), and what does meets the frame budget.
	tally.check(t, "ping/garbage flood mostly kept from the function", answered.Load()*10 < sent.Load() && throttled.Load() > 0,
		fmt.Sprintf("%d of %d frames reached the function, %d pongs from the gateway, %d throttled", answered.Load(), sent.Load(), pongs.Load(), throttled.Load()))
	// The target is 1.5×. On two shared cores the emulator's own gateway,
	// which throttles the flood in-process (on AWS that is not our CPU),
	// puts runs alone at 1.2-1.5× and inside make test (packages in
	// parallel) at 2.07×; 3× still fails a regression such as an
	// unthrottled flood (5.36× measured). The printed line says which side
	// of 1.5× this run fell.
	if ratio > 3 {
		t.Errorf("bystander send→ack p99 %v under the flood, %v without: %.2f×, want at most 3× (target 1.5×)", stormy, calm, ratio)
	}
	return fmt.Sprintf("flood: %d frames from 3 connections at %d/s each, %d throttled by the route, %d pongs from the gateway (no function), %d answered by the function, %d connections closed; bystander send→ack p99 %d ms without, %d ms with the flood (%.2f×, within 1.5×: %v; %d sends each)",
		sent.Load(), floodRate, throttled.Load(), pongs.Load(), answered.Load(), closed.Load(), calm.Milliseconds(), stormy.Milliseconds(), ratio, ratio <= 1.5, sends)
}

// floodRate is each flooder's frames per second: what one connection drove
// in the attack run of issue #15 (988 invocations/s of pings). Unpaced, a
// local client writes some 18,000 frames/s, and the two shared cores then
// measure the emulator's own gateway, which on AWS is not ours to pay for.
const floodRate = 1000

// flooder sends pings and garbage at floodRate; when the server closes it,
// it dials again, as a hostile client would.
func flooder(ctx context.Context, e *emutest.Emulator, user string, stop <-chan struct{}, sent, answered, pongs, throttled, closed *atomic.Int64) {
	tok, err := e.Token(ctx, user)
	if err != nil {
		return
	}
	frames := []string{`{"action":"ping"}`, `not json`, `{"action":"nope"}`, `{"action":"ping"}`}
	for {
		c, err := emutest.Dial(ctx, e.DialURL(tok), user, emutest.ClientOptions{
			OnFrame: func(_ *emutest.Client, f emutest.Frame) {
				switch {
				case f.IsGatewayError() && f.Message == "Too Many Requests":
					throttled.Add(1)
				case f.Type == "pong":
					pongs.Add(1)
				default:
					answered.Add(1)
				}
			},
		})
		if err != nil {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		tick := time.NewTicker(10 * time.Millisecond)
		floodConnection(ctx, c, frames, tick.C, stop, sent, closed)
		tick.Stop()
		select {
		case <-stop:
			return
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// floodConnection writes floodRate/100 frames every tick until the
// connection ends (counted in closed) or stop.
func floodConnection(ctx context.Context, c *emutest.Client, frames []string, tick <-chan time.Time, stop <-chan struct{}, sent, closed *atomic.Int64) {
	for k := 0; ; {
		select {
		case <-stop:
			_ = c.CloseNow()
			return
		case <-c.Done():
			closed.Add(1)
			return
		case <-tick:
			for range floodRate / 100 {
				if c.Write(ctx, frames[k%len(frames)]) != nil {
					<-c.Done()
					closed.Add(1)
					return
				}
				sent.Add(1)
				k++
			}
		}
	}
}
