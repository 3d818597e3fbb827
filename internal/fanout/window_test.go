package fanout

import (
	"context"
	"testing"
	"time"
)

// acquireN takes n slots that must be free at once.
func acquireN(t *testing.T, w *window, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for range n {
		s, err := w.acquire(t.Context())
		if err != nil {
			t.Fatalf("acquire: %v", err)
		}
		seqs = append(seqs, s)
	}
	return seqs
}

func TestWindowShrinksOnThrottlingAndGrowsOnSuccess(t *testing.T) {
	w := newWindow(10)
	seqs := acquireN(t, w, 10)
	for _, s := range seqs[:3] { // one burst of 429s: one cut
		w.throttled(s)
	}
	size, limited, cuts := w.state()
	if !limited || cuts != 1 || size != 7 {
		t.Fatalf("after a burst of 429s with 10 in flight: size %v, limited %v, cuts %d; want 7 (10 × 0.7), true, 1", size, limited, cuts)
	}
	for _, s := range seqs {
		w.done(s, false)
	}
	// An attempt started after the cut cuts again.
	s := acquireN(t, w, 1)[0]
	w.throttled(s)
	w.done(s, false)
	if size, _, cuts = w.state(); cuts != 2 || size != 1 {
		t.Errorf("a 429 after the cut with 1 in flight: size %v, cuts %d; want 1 (never below), 2", size, cuts)
	}
	// Successes grow it by 1/size each: about one slot per window's worth.
	for range 3 {
		s := acquireN(t, w, 1)[0]
		w.done(s, true)
	}
	if size, _, _ = w.state(); size < 2.85 || size > 2.95 {
		t.Errorf("size after 3 successes from 1 = %v, want 1 → 2 → 2.5 → 2.9", size)
	}
}

func TestWindowHoldsAttemptsBeyondItsSize(t *testing.T) {
	w := newWindow(4)
	seqs := acquireN(t, w, 4)
	w.throttled(seqs[0]) // cut to max(1, 4 × 0.7) = 2.8: two slots
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := w.acquire(ctx); err == nil {
		t.Fatal("acquire with 4 in flight and a window of 2.8 succeeded, want it to wait")
	}
	got := make(chan uint64, 1)
	go func() {
		s, err := w.acquire(t.Context())
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	w.done(seqs[0], false)
	w.done(seqs[1], false) // 2 in flight: still full
	select {
	case <-got:
		t.Fatal("a waiter got a slot with the window full")
	case <-time.After(10 * time.Millisecond):
	}
	w.done(seqs[2], false) // 1 in flight: room for the waiter
	s := <-got
	if s <= seqs[3] {
		t.Errorf("waiter's seq %d, want a new attempt after %d", s, seqs[3])
	}
	w.done(seqs[3], false)
	w.done(s, false)
	if w.inFlight != 0 {
		t.Errorf("in flight %d after every slot was released, want 0", w.inFlight)
	}
}

func TestWindowForgetsItsCutsAfterIdling(t *testing.T) {
	now := time.Unix(0, 0)
	w := newWindow(8)
	w.now = func() time.Time { return now }
	seqs := acquireN(t, w, 8)
	w.throttled(seqs[0])
	for _, s := range seqs {
		w.done(s, false)
	}
	now = now.Add(windowIdleReset / 2)
	w.done(acquireN(t, w, 1)[0], true)
	if _, limited, _ := w.state(); !limited {
		t.Fatal("the window forgot its cut after a short pause, want it kept (a page read)")
	}
	now = now.Add(2 * windowIdleReset)
	acquireN(t, w, 8) // all at once: the window is back at the pool's size
	if size, limited, _ := w.state(); limited || size != 8 {
		t.Errorf("after idling: size %v, limited %v; want 8, false", size, limited)
	}
}

func TestWindowUnboundedIsUncappedUntilThrottled(t *testing.T) {
	w := newWindow(Unbounded)
	seqs := acquireN(t, w, 100)
	w.throttled(seqs[99])
	if size, limited, _ := w.state(); !limited || size != 70 {
		t.Errorf("unbounded window after a 429 with 100 in flight: size %v, limited %v; want 70, true", size, limited)
	}
}
