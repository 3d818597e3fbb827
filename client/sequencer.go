package client

import "slices"

// sequencer turns one channel's deliveries, which may arrive duplicated, out
// of seq order or with gaps, into a stream that is strictly increasing in seq
// with each seq at most once. It is not safe for concurrent use: a
// Subscription guards it with its own mutex. It is kept free of I/O so that
// its per-message cost can be measured alone (BenchmarkDeliver).
type sequencer struct {
	// last is the highest seq delivered or settled as never used. Every seq
	// at or below it is final: a later copy is a duplicate.
	last int64
	// started is false until the baseline is known (From, the join answer's
	// lastSeq, or the first live message on an old server).
	started bool
	// held are items (messages and updates) ahead of a gap, keyed by seq,
	// at most limit of them.
	held  map[int64]Event
	limit int

	delivered, duplicates, skipped, dropped int64
}

func newSequencer(limit int) *sequencer {
	return &sequencer{held: make(map[int64]Event), limit: limit}
}

// start sets the baseline: seqs at or below last are not delivered.
func (s *sequencer) start(last int64) {
	if s.started {
		return
	}
	s.started, s.last = true, last
}

// offer takes one message and appends to out every message that is now
// deliverable, in seq order. It reports false when the message had to be
// dropped because the reorder buffer is full; the caller then asks history,
// which still holds it, since the server stores a message before fanning out.
// History answers pass force: a page is bounded and is settled right after.
func (s *sequencer) offer(m Message, out []Event, force bool) ([]Event, bool) {
	return s.offerEvent(Event{Type: EventMessage, Message: m}, out, force)
}

// seqOf is the stream seq of an item: a message's or an update's.
func seqOf(e Event) int64 {
	switch e.Type {
	case EventUpdate:
		return e.Update.Seq
	case EventModeration:
		return e.Moderation.Seq
	}
	return e.Message.Seq
}

// offerEvent is offer for any item of the stream: a message or an update
// (a change to a message, which has a seq of its own).
func (s *sequencer) offerEvent(e Event, out []Event, force bool) ([]Event, bool) {
	seq := seqOf(e)
	if !s.started {
		// Old server, no baseline: the first live message sets it.
		s.start(seq - 1)
	}
	if seq <= s.last {
		s.duplicates++
		return out, true
	}
	if seq != s.last+1 {
		if _, ok := s.held[seq]; ok {
			s.duplicates++
			return out, true
		}
		if len(s.held) >= s.limit && !force {
			s.dropped++
			return out, false
		}
		s.held[seq] = e
		return out, true
	}
	s.last = seq
	s.delivered++
	out = append(out, e)
	return s.drain(out), true
}

// drain delivers held messages that have become contiguous with last.
func (s *sequencer) drain(out []Event) []Event {
	for len(s.held) > 0 {
		e, ok := s.held[s.last+1]
		if !ok {
			break
		}
		delete(s.held, s.last+1)
		s.last++
		s.delivered++
		out = append(out, e)
	}
	return out
}

// settle records that every seq up to through is either already offered or
// was never used, so missing ones are skipped and held ones delivered.
func (s *sequencer) settle(through int64, out []Event) []Event {
	if !s.started {
		s.start(through)
		return out
	}
	if through <= s.last {
		return s.drain(out)
	}
	// By the held messages, not seq by seq: a settled range can be billions
	// of seqs wide (a channel's new counter starts at its base, the
	// milliseconds since 2025).
	var seqs []int64
	for seq := range s.held {
		if seq <= through {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		out = append(out, s.held[seq])
		delete(s.held, seq)
	}
	s.delivered += int64(len(seqs))
	s.skipped += through - s.last - int64(len(seqs))
	s.last = through
	return s.drain(out)
}

// discontinuity reports the seqs in (last, oldest) as past retention: they
// may have held messages that no one can deliver any more.
func (s *sequencer) discontinuity(oldest int64, out []Event) []Event {
	if !s.started || oldest-1 <= s.last {
		return out
	}
	from, to := s.last+1, oldest-1
	for seq := range s.held {
		if seq <= to {
			// Cannot happen with an honest server (a held message is
			// retained), but never deliver below the reported hole.
			delete(s.held, seq)
		}
	}
	s.last = to
	out = append(out, Event{Type: EventDiscontinuity, Discontinuity: Discontinuity{From: from, To: to}})
	return s.drain(out)
}

// gap reports whether messages are held waiting for a lower seq.
func (s *sequencer) gap() bool { return len(s.held) > 0 }
