package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwtFor is a token of the shape the client reads (its signature is the
// server's business): sub and exp, living ttl from now.
func jwtFor(user string, ttl time.Duration) string {
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{"sub": user, "exp": time.Now().Add(ttl).Unix()})
	return b64([]byte(`{"alg":"ES256"}`)) + "." + b64(payload) + ".sig"
}

// renewalRun keeps a receiver joined for about run while a sender posts
// every 20 ms; tokens live ttl. It returns the receiver's verdict, its
// stats and the server's counts.
func renewalRun(t *testing.T, f faults, ttl, run time.Duration) (verdict, Stats, counts, int) {
	t.Helper()
	srv := newFakeServer(t, f)
	var minted atomic.Int64
	o := fastOptions("")
	o.Token = func(context.Context) (string, error) {
		minted.Add(1)
		return jwtFor("ann", ttl), nil
	}
	c := dialT(t, srv.url(), o)
	s, err := c.Join(context.Background(), "general")
	if err != nil {
		t.Fatal(err)
	}
	rec := record(s)
	acked := map[int64]bool{}
	deadline := time.Now().Add(run)
	for time.Now().Before(deadline) {
		acked[srv.post("general", "tick")] = true
		time.Sleep(20 * time.Millisecond)
	}
	waitUntil(t, func() bool { return len(rec.snapshot()) >= len(acked) })
	return check(messagesOf(rec.snapshot()), acked), c.Stats(), srv.stats(), int(minted.Load())
}

func messagesOf(events []Event) []Event {
	var out []Event
	for _, e := range events {
		if e.Type == EventMessage || e.Type == EventDiscontinuity {
			out = append(out, e)
		}
	}
	return out
}

// waitUntil waits up to 5 s for cond.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	waitFor(t, 5*time.Second, "condition", cond)
}

// TestRenewalKeepsTheConnection: with tokens living 2-3 s, the client
// renews in-band before each expiry through its token provider: the server
// never expires the connection, the client never reconnects, and every
// message reaches the subscription once, in order. The control run, whose
// renewals the server refuses, shows what renewal prevents: the server
// cuts the connection at each expiry and the client has to reconnect.
func TestRenewalKeepsTheConnection(t *testing.T) {
	const ttl, run = 3 * time.Second, 4500 * time.Millisecond
	v, st, srv, minted := renewalRun(t, faults{}, ttl, run)
	fmt.Printf("FIGURES renewal: deliveries=%d lost=%d duplicated=%d out_of_order=%d renewals=%d reconnects=%d server_reauths=%d server_expired=%d tokens=%d\n",
		v.deliveries, v.lost, v.duplicated, v.outOfOrder, st.Renewals, st.Reconnects, srv.Reauths, srv.Expired, minted)
	if v.lost != 0 || v.duplicated != 0 || v.outOfOrder != 0 || v.deliveries == 0 {
		t.Errorf("verdict %+v, want every message once, in order", v)
	}
	if st.Renewals < 2 || srv.Reauths != int(st.Renewals) || st.Reconnects != 0 || srv.Expired != 0 {
		t.Errorf("renewals %d (server %d), reconnects %d, expired %d; want >= 2 renewals, no reconnect, no expiry",
			st.Renewals, srv.Reauths, st.Reconnects, srv.Expired)
	}

	cv, cst, csrv, _ := renewalRun(t, faults{RefuseReauth: true}, ttl, run)
	fmt.Printf("FIGURES renewal refused (control): deliveries=%d lost=%d duplicated=%d renewals=%d reconnects=%d server_expired=%d\n",
		cv.deliveries, cv.lost, cv.duplicated, cst.Renewals, cst.Reconnects, csrv.Expired)
	if csrv.Expired == 0 || cst.Reconnects == 0 || cst.Renewals != 0 {
		t.Errorf("control: expired %d, reconnects %d, renewals %d; want the server to cut the unrenewed connection", csrv.Expired, cst.Reconnects, cst.Renewals)
	}
	if cv.lost != 0 || cv.duplicated != 0 {
		t.Errorf("control verdict %+v: a reconnect must still lose nothing", cv)
	}
}

// TestRenewAt: renewal comes RenewBefore ahead of exp, but never later
// than two thirds of the remaining life.
func TestRenewAt(t *testing.T) {
	c := &Client{opts: Options{RenewBefore: 2 * time.Minute}.withDefaults()}
	now := time.Unix(1_000_000, 0)
	for _, tc := range []struct{ life, want time.Duration }{
		{time.Hour, time.Hour - 2*time.Minute},
		{3 * time.Second, 2 * time.Second},
		{0, 0},
	} {
		if got := c.renewAt(now, now.Add(tc.life)).Sub(now); got != tc.want {
			t.Errorf("renewAt(life %v) = +%v, want +%v", tc.life, got, tc.want)
		}
	}
	if tokenExpiry("not-a-jwt") != (time.Time{}) || tokenExpiry(jwtFor("a", time.Hour)).IsZero() {
		t.Error("tokenExpiry reads a JWT's exp and nothing else")
	}
}

// TestOpenDirectAndRemoved: OpenDirect asks the server for the channel and
// joins it; the other user hears of it (OnDirect); a removal ends the
// subscription with ErrRemoved and it is not rejoined after a reconnect.
func TestOpenDirectAndRemoved(t *testing.T) {
	srv := newFakeServer(t, faults{})
	var mu sync.Mutex
	var heard []Direct
	bobOpts := fastOptions("bob")
	bobOpts.OnDirect = func(d Direct) {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, d)
	}
	bob := dialT(t, srv.url(), bobOpts)
	ann := dialT(t, srv.url(), fastOptions("ann"))
	ctx := context.Background()
	s, err := ann.OpenDirect(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if s.Channel() != DirectChannel("ann", "bob") {
		t.Errorf("channel %s, want %s", s.Channel(), DirectChannel("ann", "bob"))
	}
	again, err := ann.OpenDirect(ctx, "bob")
	if err != nil || again != s {
		t.Errorf("OpenDirect again = %v, %v; want the same subscription", again, err)
	}
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(heard) == 1 })
	mu.Lock()
	if heard[0].Channel != s.Channel() || heard[0].UserID != "ann" || !heard[0].Created {
		t.Errorf("bob heard %+v, want ann's new DM", heard[0])
	}
	mu.Unlock()
	if _, err := bob.Join(ctx, s.Channel()); err != nil {
		t.Fatal(err)
	}
	if _, err := ann.OpenDirect(ctx, "a#b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenDirect with a bad id: %v, want ErrInvalid", err)
	}

	srv.removeUser(s.Channel(), "ann")
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		t.Fatal("the removed subscription did not end")
	}
	if !errors.Is(s.Err(), ErrRemoved) {
		t.Errorf("Err = %v, want ErrRemoved", s.Err())
	}
	srv.dropAll()
	waitUntil(t, func() bool { return ann.Stats().Reconnects > 0 && ann.State() == StateConnected })
	if ann.sub(s.Channel()) != nil {
		t.Error("the removed channel was rejoined after the reconnect")
	}
}
