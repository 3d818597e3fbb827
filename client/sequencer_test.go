package client

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// step is one input to a sequencer: a live or history message, a settle
// (history's through) or a discontinuity (history's oldest).
type step struct {
	offer, settle, oldest int64
	force                 bool
}

func TestSequencer(t *testing.T) {
	tests := []struct {
		name  string
		start int64
		steps []step
		want  string
		held  int
	}{
		{"in order", 0, []step{{offer: 1}, {offer: 2}, {offer: 3}}, "1 2 3", 0},
		{"duplicates dropped", 0, []step{{offer: 1}, {offer: 1}, {offer: 2}, {offer: 2}}, "1 2", 0},
		{"reordered held then drained", 0, []step{{offer: 2}, {offer: 3}, {offer: 1}}, "1 2 3", 0},
		{"gap waits", 0, []step{{offer: 1}, {offer: 3}}, "1", 1},
		{"gap settled as never used", 0, []step{{offer: 1}, {offer: 3}, {offer: 4}, {settle: 4}}, "1 3 4", 0},
		{"settle stops at through", 0, []step{{offer: 1}, {offer: 4}, {settle: 2}}, "1", 1},
		{"below baseline ignored", 10, []step{{offer: 9}, {offer: 10}, {offer: 11}}, "11", 0},
		{"discontinuity then resume", 2, []step{{oldest: 6}, {offer: 6}, {offer: 7}}, "d3-5 6 7", 0},
		{"discontinuity drops held below hole", 2, []step{{offer: 4}, {oldest: 6}, {offer: 6}}, "d3-5 6", 0},
		{"no discontinuity when caught up", 5, []step{{oldest: 3}, {offer: 6}}, "6", 0},
		{"window full drops newest", 0, []step{{offer: 3}, {offer: 4}, {offer: 5}, {offer: 6}, {offer: 1}, {offer: 2}}, "1 2 3 4 5", 0},
		{"history ignores window", 0, []step{{offer: 3}, {offer: 4}, {offer: 5}, {offer: 6, force: true}, {offer: 1}, {offer: 2}}, "1 2 3 4 5 6", 0},
		// A channel's new counter starts at its base (milliseconds since
		// 2025): history settles the range below at once, however wide.
		{"wide settle up to a counter's base", 0, []step{{offer: 40_000_000_002}, {offer: 40_000_000_001}, {settle: 40_000_000_000}}, "40000000001 40000000002", 0},
		{"wide settle delivers held in order", 0, []step{{offer: 40_000_000_009}, {offer: 40_000_000_005}, {settle: 40_000_000_007}}, "40000000005", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSequencer(3)
			s.start(tc.start)
			var out []Event
			for _, st := range tc.steps {
				switch {
				case st.offer != 0:
					out, _ = s.offer(Message{Seq: st.offer}, out, st.force)
				case st.settle != 0:
					out = s.settle(st.settle, out)
				case st.oldest != 0:
					out = s.discontinuity(st.oldest, out)
				}
			}
			if got := render(out); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if len(s.held) != tc.held {
				t.Errorf("got %d held, want %d", len(s.held), tc.held)
			}
		})
	}
}

func render(out []Event) string {
	var parts []string
	for _, e := range out {
		if e.Type == EventDiscontinuity {
			parts = append(parts, fmt.Sprintf("d%d-%d", e.Discontinuity.From, e.Discontinuity.To))
		} else {
			parts = append(parts, fmt.Sprint(e.Message.Seq))
		}
	}
	return strings.Join(parts, " ")
}

// TestCheckCatchesViolations is the positive control of the fault tests'
// checker: a stream with a loss, a duplicate and a reordering is caught.
func TestCheckCatchesViolations(t *testing.T) {
	msg := func(seq int64) Event { return Event{Type: EventMessage, Message: Message{Seq: seq}} }
	hole := Event{Type: EventDiscontinuity, Discontinuity: Discontinuity{From: 7, To: 8}}
	events := []Event{msg(1), msg(3), msg(2), msg(3), hole, msg(9)}
	acked := map[int64]bool{1: true, 2: true, 3: true, 4: true, 7: true, 9: true}
	got := check(events, acked)
	want := verdict{deliveries: 5, lost: 1, duplicated: 1, outOfOrder: 1, discontinuities: 1}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// deliverFrames builds n `message` frames of one channel in a shuffled
// order with one duplicate in ten, as a busy channel delivers them.
func deliverFrames(n int) [][]byte {
	frames := make([][]byte, 0, n+n/10)
	for i := range n {
		seq := int64(i + 1)
		// Swap neighbours in pairs: every other message arrives early.
		if i%2 == 0 && i+1 < n {
			seq++
		} else if i%2 == 1 {
			seq--
		}
		b, _ := json.Marshal(map[string]any{"type": "message", "channel": "general", "seq": seq,
			"userId": "u1", "userName": "Ann", "text": strings.Repeat("x", 100), "clientId": fmt.Sprint("c", seq),
			"sentAt": "2026-11-26T20:30:05.123Z"})
		frames = append(frames, b)
		if i%10 == 0 {
			frames = append(frames, b)
		}
	}
	return frames
}

// deliverOne is the SDK's own work for one frame: decode, dedupe, reorder.
func deliverOne(s *sequencer, b []byte, out []Event) []Event {
	var f frame
	if json.Unmarshal(b, &f) != nil {
		return out
	}
	out, _ = s.offer(message(f.Channel, f.Entry), out, false)
	return out
}

func BenchmarkDeliver(b *testing.B) {
	frames := deliverFrames(10000)
	s := newSequencer(1024)
	s.start(0)
	out := make([]Event, 0, 4)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(frames) == 0 && i > 0 {
			s = newSequencer(1024)
			s.start(0)
		}
		out = deliverOne(s, frames[i%len(frames)], out[:0])
	}
}

// TestDeliverOverheadP99 times each delivered frame and checks the p99
// against the target of 1 ms.
func TestDeliverOverheadP99(t *testing.T) {
	frames := deliverFrames(20000)
	s := newSequencer(1024)
	s.start(0)
	durs := make([]time.Duration, 0, len(frames))
	var out []Event
	delivered := 0
	for _, b := range frames {
		start := time.Now()
		out = deliverOne(s, b, out[:0])
		durs = append(durs, time.Since(start))
		delivered += len(out)
	}
	slices.Sort(durs)
	p50, p99 := durs[len(durs)/2], durs[len(durs)*99/100]
	fmt.Printf("FIGURES deliver_overhead frames=%d delivered=%d p50=%s p99=%s max=%s\n",
		len(frames), delivered, p50, p99, durs[len(durs)-1])
	if delivered != 20000 {
		t.Errorf("got %d delivered, want 20000", delivered)
	}
	if p99 > time.Millisecond && !raceEnabled {
		t.Errorf("got p99 %s, want < 1ms", p99)
	}
}
