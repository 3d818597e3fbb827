package fanout

import (
	"context"
	"sync"
	"time"
)

// window paces a Fanout's posts to the account's @connections rate, which
// every invocation shares and which answers 429 beyond it, the way TCP's
// congestion window paces a sender: an attempt takes a slot before it is
// made, a 429 cuts the window multiplicatively, and each success grows it
// by 1/size (so by one slot per window's worth of successes: additive
// increase). Several invocations each running such a window converge on
// shares of the limit that add up to about the limit, without talking to
// each other, instead of each retrying on its own clock and leaving tokens
// unused while they sleep.
//
// One burst of 429s is one cut: only an attempt started after the last cut
// may cut again, as TCP reacts once per window of losses. The window never
// falls below one slot, so a post is never starved, and it starts (and,
// after idling, restarts) at its maximum, the pool's size, so a Fanout that
// is never throttled posts exactly as it would without one.
type window struct {
	max  float64 // the pool's size; 0 (Unbounded): no cap
	beta float64 // the multiplicative decrease
	now  func() time.Time

	mu       sync.Mutex
	size     float64 // attempts allowed in flight (at least 1)
	limited  bool    // cut at least once since the last idle restart
	inFlight int
	seq      uint64 // attempts started so far
	cutSeq   uint64 // seq at the last cut: older attempts' 429s do not cut
	cuts     int
	idle     time.Time     // when inFlight last fell to 0
	waiters  []chan uint64 // FIFO, each receives its attempt's seq
}

// windowBeta keeps 70% of the window on a cut (CUBIC's factor): halving, as
// classic TCP does, leaves more of the shared rate unused after each cut.
const windowBeta = 0.7

// windowIdleReset is how long a window may sit idle before it forgets its
// cuts: long enough to outlast a page read between posts (tens of
// milliseconds), short enough that the next invocation's broadcast, with
// other invocations likely finished, probes the rate afresh.
const windowIdleReset = time.Second

func newWindow(workers int) *window {
	w := &window{beta: windowBeta, now: time.Now}
	if workers > 0 {
		w.max = float64(workers)
	}
	w.size = w.max
	return w
}

// open reports whether another attempt may start (a window of 2.8 allows
// 2 in flight); w.mu is held.
func (w *window) open() bool {
	return !w.limited || float64(w.inFlight+1) <= w.size
}

// acquire waits for a slot; the seq it returns identifies the attempt for
// throttled and done. It fails only when ctx ends first.
func (w *window) acquire(ctx context.Context) (uint64, error) {
	w.mu.Lock()
	if w.inFlight == 0 && w.limited && w.now().Sub(w.idle) > windowIdleReset {
		// What was learned is about invocations that may have finished
		// since: probe afresh.
		w.size, w.limited = w.max, false
	}
	if len(w.waiters) == 0 && w.open() {
		w.inFlight++
		w.seq++
		s := w.seq
		w.mu.Unlock()
		return s, nil
	}
	ch := make(chan uint64, 1)
	w.waiters = append(w.waiters, ch)
	w.mu.Unlock()
	select {
	case s := <-ch:
		return s, nil
	case <-ctx.Done():
	}
	w.mu.Lock()
	for i, c := range w.waiters {
		if c == ch {
			w.waiters = append(w.waiters[:i], w.waiters[i+1:]...)
			w.mu.Unlock()
			return 0, ctx.Err()
		}
	}
	w.mu.Unlock()
	// The slot was handed over as ctx ended: pass it on.
	w.done(<-ch, false)
	return 0, ctx.Err()
}

// throttled records that attempt seq was answered 429; the caller still
// holds the slot and releases it with done.
func (w *window) throttled(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq <= w.cutSeq {
		return
	}
	// Cut from what was actually in flight: a window larger than the
	// demand (a small channel) says nothing about the rate.
	base := float64(w.inFlight)
	if w.limited {
		base = min(base, w.size)
	}
	w.size = max(1, base*w.beta)
	w.limited = true
	w.cutSeq = w.seq
	w.cuts++
}

// done releases attempt seq's slot; ok means it was delivered, which grows
// the window.
func (w *window) done(seq uint64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inFlight--
	if ok && w.limited {
		w.size += 1 / w.size
		if w.max > 0 && w.size >= w.max {
			w.size, w.limited = w.max, false
		}
	}
	if w.inFlight == 0 {
		w.idle = w.now()
	}
	for len(w.waiters) > 0 && w.open() {
		ch := w.waiters[0]
		w.waiters = w.waiters[1:]
		w.inFlight++
		w.seq++
		ch <- w.seq
	}
}

// state returns the window's size, whether it is limiting, and its cuts so
// far (for tests and logs).
func (w *window) state() (size float64, limited bool, cuts int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size, w.limited, w.cuts
}
