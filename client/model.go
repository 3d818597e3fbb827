package client

import (
	"slices"
	"sort"
	"time"
)

// model is a subscription's message-state model: every message it has
// seen, in its current state, folded from the stream. Messages and
// updates reach it exactly once and in seq order (the sequencer), so
// folding is simple: every state the server sends carries its Rev, and a
// message keeps the state with the highest. Typing and read events come
// beside the stream and are kept per user. It is guarded by its
// subscription's mutex.
type model struct {
	me       string
	msgs     map[int64]*Message
	limit    int
	lastRead int64
	reads    map[string]ReadReceipt
	typing   map[string]Typist
}

func newModel(limit int) *model {
	return &model{msgs: map[int64]*Message{}, limit: limit, reads: map[string]ReadReceipt{}, typing: map[string]Typist{}}
}

// fold applies one event.
func (m *model) fold(e Event) {
	switch e.Type {
	case EventMessage:
		m.put(e.Message, e.personal)
		if e.parent != nil {
			m.put(*e.parent, e.personal)
		}
	case EventUpdate:
		u := e.Update
		m.put(u.State, u.personal)
		if u.UserID == m.me && (u.Action == UpdateReact || u.Action == UpdateUnreact) {
			m.mine(u.Target, u.Emoji, u.Action == UpdateReact)
		}
	case EventTyping:
		if e.Typing.UserID != m.me {
			m.typing[e.Typing.UserID] = e.Typing
		}
	case EventRead:
		r := e.Read
		if r.UserID == m.me {
			m.lastRead = max(m.lastRead, r.Seq)
			return
		}
		if r.Seq > m.reads[r.UserID].Seq {
			m.reads[r.UserID] = r
		}
		// Someone who read on has stopped typing.
		delete(m.typing, r.UserID)
	}
	if e.Type == EventMessage {
		// A message ends its author's typing, unless it was sent before
		// the signal (a catch-up can deliver it after).
		if t, ok := m.typing[e.Message.UserID]; ok && !e.Message.SentAt.Before(t.since) {
			delete(m.typing, e.Message.UserID)
		}
	}
}

// put keeps st as message st.Seq's state unless a newer one is known. A
// state from a broadcast has no Mine flags (one frame for every member):
// the ones known are kept. A personal one (a history answer to this user)
// is taken whole.
func (m *model) put(st Message, personal bool) {
	if st.Seq == 0 {
		return
	}
	cur, ok := m.msgs[st.Seq]
	if ok && (cur.Rev > st.Rev || cur.Rev == st.Rev && !personal) {
		return
	}
	st.Reactions = slices.Clone(st.Reactions)
	if !personal && ok {
		for i, r := range st.Reactions {
			for _, c := range cur.Reactions {
				if c.Emoji == r.Emoji {
					st.Reactions[i].Mine = c.Mine
				}
			}
		}
	}
	m.msgs[st.Seq] = &st
	if len(m.msgs) > m.limit {
		m.evict()
	}
}

// mine records your own reaction (or its removal) on message seq.
func (m *model) mine(seq int64, emoji string, on bool) {
	cur, ok := m.msgs[seq]
	if !ok {
		return
	}
	for i, r := range cur.Reactions {
		if r.Emoji == emoji {
			cur.Reactions[i].Mine = on && r.Count > 0
		}
	}
}

// evict drops the oldest tenth of the messages: a model is bounded.
func (m *model) evict() {
	seqs := make([]int64, 0, len(m.msgs))
	for s := range m.msgs {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs[:max(1, len(seqs)/10)] {
		delete(m.msgs, s)
	}
}

func (m *model) message(seq int64) (Message, bool) {
	cur, ok := m.msgs[seq]
	if !ok {
		return Message{}, false
	}
	out := *cur
	out.Reactions = slices.Clone(cur.Reactions)
	return out, true
}

func (m *model) messages() []Message {
	out := make([]Message, 0, len(m.msgs))
	for _, cur := range m.msgs {
		c := *cur
		c.Reactions = slices.Clone(cur.Reactions)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// unread counts the messages above lastRead that are not yours and not
// deleted (the server's rule for the channel list).
func (m *model) unread() int {
	n := 0
	for seq, cur := range m.msgs {
		if seq > m.lastRead && cur.UserID != m.me && !cur.Deleted {
			n++
		}
	}
	return n
}

func (m *model) typists(now time.Time) []Typist {
	var out []Typist
	for id, t := range m.typing {
		if !t.Until.After(now) {
			delete(m.typing, id)
			continue
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserName < out[j].UserName })
	return out
}

// Message returns message seq in its current state: its text after the
// last edit (none once deleted), its reactions (Mine: yours) and its
// replies counted, as far as this subscription has seen it.
func (s *Subscription) Message(seq int64) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model.message(seq)
}

// Messages returns every message the subscription has seen, in their
// current state, in seq order (at most Options.ModelSize: the oldest are
// dropped first).
func (s *Subscription) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model.messages()
}

// LastRead is your last-read seq of the channel (shared by all your
// devices: MarkRead on any of them raises it here too).
func (s *Subscription) LastRead() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model.lastRead
}

// Unread counts the messages of the model above LastRead that are not
// yours and not deleted. It covers what the subscription has seen: join
// From(LastRead) or earlier for the exact count (Channels has the
// server's).
func (s *Subscription) Unread() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model.unread()
}

// Typing returns who is typing in the channel now (you excluded).
func (s *Subscription) Typing() []Typist {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model.typists(s.c.opts.Now())
}

// ReadBy returns the read receipts seen: per other user, the seq they
// have read up to (sent in channels within the server's presence size).
func (s *Subscription) ReadBy() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.model.reads))
	for id, r := range s.model.reads {
		out[id] = r.Seq
	}
	return out
}

// joinedAs learns, from this subscription's own joined answer, who the
// user is and its last-read seq. The caller holds s.mu.
func (s *Subscription) joinedAs(f *frame) {
	if f.UserID != "" {
		s.model.me = f.UserID
		s.c.mu.Lock()
		s.c.userID = f.UserID
		s.c.mu.Unlock()
	}
	if f.LastRead != nil {
		s.model.lastRead = max(s.model.lastRead, *f.LastRead)
	}
}

// historyEvents are a history answer's items: its messages and updates,
// each with the current state of what it targets (personal: the answer
// is this user's, Mine flags included).
func historyEvents(channel string, f *frame) []Event {
	states := map[int64]Message{}
	for _, e := range f.States {
		states[e.Seq] = message(channel, e)
	}
	for _, e := range f.Messages {
		states[e.Seq] = message(channel, e)
	}
	out := make([]Event, 0, len(f.Messages)+len(f.Updates)+len(f.Moderation))
	for _, m := range f.Moderation {
		out = append(out, Event{Type: EventModeration, Moderation: Moderation{Channel: channel, ModerationEntry: m}})
	}
	for _, e := range f.Messages {
		ev := Event{Type: EventMessage, Message: message(channel, e), personal: true}
		if p, ok := states[e.ReplyTo]; ok && e.ReplyTo != 0 {
			ev.parent = &p
		}
		out = append(out, ev)
	}
	for _, u := range f.Updates {
		out = append(out, Event{Type: EventUpdate, Update: Update{Channel: channel, Seq: u.Seq, Action: u.Action, Target: u.Target,
			UserID: u.UserID, UserName: u.UserName, Emoji: u.Emoji, ClientID: u.ClientID, At: u.At, State: states[u.Target], personal: true}})
	}
	return out
}

// armTyping schedules the next expiry of a typing indicator: the stream
// then gets an EventTyping whose Until has passed (the indicator ended),
// so an application need not poll Typing.
func (s *Subscription) armTyping() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.typingT != nil {
		s.typingT.Stop()
	}
	if s.ended || len(s.model.typing) == 0 {
		return
	}
	var next time.Time
	for _, t := range s.model.typing {
		if next.IsZero() || t.Until.Before(next) {
			next = t.Until
		}
	}
	s.typingT = time.AfterFunc(max(0, next.Sub(s.c.opts.Now()))+5*time.Millisecond, func() {
		s.mu.Lock()
		now := s.c.opts.Now()
		var gone []Event
		for _, t := range s.model.typing {
			if !t.Until.After(now) {
				gone = append(gone, Event{Type: EventTyping, Typing: t})
			}
		}
		s.model.typists(now) // drops them
		s.enqueue(gone)
		s.mu.Unlock()
		s.armTyping()
	})
}
