package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wschat/wschat/wire"
)

// request is any client frame as the fake server reads it: one loose union,
// unlike the real server's strict decoder.
type request struct {
	Action   string `json:"action"`
	Channel  string `json:"channel,omitempty"`
	Text     string `json:"text,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	After    *int64 `json:"after,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
	Ref      string `json:"ref,omitempty"`
	Echo     *bool  `json:"echo,omitempty"`
	Token    string `json:"token,omitempty"`
	UserID   string `json:"userId,omitempty"`
}

// ackOnly: the request asked for no echo (wire.Send.Echo false).
func (r request) ackOnly() bool { return r.Echo != nil && !*r.Echo }

// wireMessage is a message the fake server stores, its time kept as sent.
type wireMessage struct {
	Seq      int64  `json:"seq"`
	From     string `json:"from,omitempty"`
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	Text     string `json:"text"`
	ClientID string `json:"clientId"`
	SentAt   string `json:"sentAt"`
}

// faults are what the fake server does wrong on purpose. Probabilities are
// per frame (Drop), per delivered message (Duplicate, Reorder) or per send.
type faults struct {
	RefuseToken          string        // this token gets 401 at the handshake
	Drop                 float64       // close the connection after handling a frame
	Duplicate, Reorder   float64       // deliver a message twice / late
	Gap                  float64       // take a seq, fail the send: a never-used seq
	Internal, RateLimit  float64       // answer an error; internal is before or after storing
	SlowStore            float64       // take a seq, store and fan out 20–60 ms later
	AckDelay             float64       // ack later than the client's AckTimeout
	AckDelayBy           time.Duration // how much later
	MaxLifetime          time.Duration // cut every connection after this long
	MembersPageSize      int           // default 2, so paging is exercised
	OmitProtocolAddition bool          // behave like a server without through/oldest/lastSeq
	Silent               bool          // never answer a send
	NoPong               bool          // take pings without answering: a half-dead connection
	// ForeignJoinFirst announces another member's concurrent join (its own
	// ref, a later lastSeq) to the joiner before the joiner's own joined.
	ForeignJoinFirst bool
	// RefuseReauth answers every reauth with unauthorized, so the grant
	// runs out and the server closes the connection (token_expired).
	RefuseReauth bool
	// Mask is a word the server stores as "****", as a before-send hook
	// that replaces text does.
	Mask string
}

// counts are the faults that actually happened.
type counts struct {
	Drops, Duplicates, Reorders, Gaps, Internals, RateLimits, SlowStores, AckDelays, Cuts, Refused, Pings int
	Reauths, Expired                                                                                      int
}

type fakeChan struct {
	seq     int64
	oldest  int64 // seqs below it are past retention
	msgs    map[int64]wireMessage
	pending map[int64]bool // seqs taken, not yet stored
	ids     map[string]int64
	members map[*fakeConn]bool
	order   []*fakeConn
}

type fakeConn struct {
	id      string
	user    string
	ws      *websocket.Conn
	out     chan []byte
	ctx     context.Context
	cancel  context.CancelFunc
	chans   map[string]bool
	started time.Time
	expiry  *time.Timer // the grant's end, as the real server enforces it
}

// fakeServer speaks the protocol subset the client uses, with a real seq
// counter, idempotent clientIds and history, and injects faults.
type fakeServer struct {
	t   testing.TB
	srv *httptest.Server
	wg  sync.WaitGroup

	mu     sync.Mutex
	f      faults
	rng    *rand.Rand
	chans  map[string]*fakeChan
	conns  map[*fakeConn]bool
	counts counts
	anon   int
	nconn  int
	closed bool // set before wg.Wait, so no handler Adds to wg during it
	// replaces are the wire.ReplacesParameter values upgrades carried.
	replaces []string
}

func newFakeServer(t testing.TB, f faults) *fakeServer {
	s := &fakeServer{t: t, f: f, rng: rand.New(rand.NewPCG(1, uint64(len(t.Name())))),
		chans: map[string]*fakeChan{}, conns: map[*fakeConn]bool{}}
	if s.f.MembersPageSize == 0 {
		s.f.MembersPageSize = 2
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") }

func (s *fakeServer) setFaults(f faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.MembersPageSize == 0 {
		f.MembersPageSize = 2
	}
	s.f = f
}

func (s *fakeServer) stats() counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

func (s *fakeServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.cancel()
		_ = c.ws.CloseNow()
	}
	s.mu.Unlock()
	s.srv.Close()
	s.wg.Wait()
}

// dropAll cuts every connection, as API Gateway does when a connection is
// deleted through @connections.
func (s *fakeServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		s.counts.Drops++
		_ = c.ws.CloseNow()
	}
}

// expire drops the channel's messages below seq, as retention does.
func (s *fakeServer) expire(channel string, below int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channel(channel)
	for seq := range ch.msgs {
		if seq < below {
			delete(ch.msgs, seq)
		}
	}
	ch.oldest = max(ch.oldest, below)
}

// post stores a message from the server side: a backend's publish.
func (s *fakeServer) post(channel, text string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channel(channel)
	ch.seq++
	s.store(ch, channel, wireMessage{Seq: ch.seq, From: "server", UserID: "server", UserName: "Orders", Text: text,
		ClientID: "srv-" + strconv.FormatInt(ch.seq, 10), SentAt: time.Now().UTC().Format(time.RFC3339Nano)})
	return ch.seq
}

func (s *fakeServer) channel(name string) *fakeChan {
	ch := s.chans[name]
	if ch == nil {
		ch = &fakeChan{msgs: map[int64]wireMessage{}, pending: map[int64]bool{}, ids: map[string]int64{},
			members: map[*fakeConn]bool{}, oldest: 1}
		s.chans[name] = ch
	}
	return ch
}

func (s *fakeServer) chance(p float64) bool { return p > 0 && s.rng.Float64() < p }

func (s *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" {
		for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
			if p = strings.TrimSpace(p); p != Subprotocol && p != "" {
				token = p
			}
		}
	}
	s.mu.Lock()
	refuse := token != "" && token == s.f.RefuseToken
	if refuse {
		s.counts.Refused++
	}
	s.mu.Unlock()
	if refuse {
		http.Error(w, "token refused", http.StatusUnauthorized)
		return
	}
	// The connection is registered before the client sees the upgrade
	// answered, as API Gateway runs $connect before its 101: a client that
	// dialed first is known to requests made after its dial returned.
	s.mu.Lock()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		s.mu.Unlock()
		return
	}
	c := &fakeConn{ws: ws, out: make(chan []byte, 8192), chans: map[string]bool{}, started: time.Now(), user: token}
	sub, exp := claims(token)
	if sub != "" {
		c.user = sub
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if s.closed {
		s.mu.Unlock()
		c.cancel()
		_ = ws.CloseNow()
		return
	}
	s.wg.Add(2) // this handler and its writer
	defer s.wg.Done()
	if c.user == "" {
		s.anon++
		c.user = fmt.Sprintf("anon-%d", s.anon)
	}
	s.nconn++
	c.id = fmt.Sprintf("conn-%d", s.nconn)
	if rep := r.URL.Query().Get(wire.ReplacesParameter); rep != "" {
		s.replaces = append(s.replaces, rep)
	}
	s.conns[c] = true
	lifetime := s.f.MaxLifetime
	s.mu.Unlock()
	if lifetime > 0 {
		t := time.AfterFunc(lifetime, func() {
			s.mu.Lock()
			s.counts.Cuts++
			s.mu.Unlock()
			_ = ws.Close(websocket.StatusGoingAway, "lifetime")
		})
		defer t.Stop()
	}
	if !exp.IsZero() {
		s.mu.Lock()
		s.expireAt(c, exp)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			c.expiry.Stop()
			s.mu.Unlock()
		}()
	}
	go s.writer(c)
	s.readLoop(c)
	s.disconnect(c)
}

// claims reads sub and exp of a token minted by jwtFor ("" and zero for
// any other token, whose text is then the user).
func claims(token string) (string, time.Time) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	if err != nil || json.Unmarshal(b, &c) != nil {
		return "", time.Time{}
	}
	return c.Sub, time.Unix(c.Exp, 0)
}

// expireAt (re)arms c's grant: at exp the server refuses it with
// token_expired and closes it, as the real one does; the caller holds s.mu.
func (s *fakeServer) expireAt(c *fakeConn, exp time.Time) {
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.expiry = time.AfterFunc(time.Until(exp), func() {
		s.mu.Lock()
		s.counts.Expired++
		s.emit(c, map[string]any{"type": "error", "code": "token_expired", "message": "token expired"})
		s.mu.Unlock()
		time.Sleep(10 * time.Millisecond) // let the writer send it
		_ = c.ws.Close(websocket.StatusNormalClosure, "token expired")
	})
}

func (s *fakeServer) writer(c *fakeConn) {
	defer s.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case b := <-c.out:
			if c.ws.Write(c.ctx, websocket.MessageText, b) != nil {
				_ = c.ws.CloseNow()
				return
			}
		}
	}
}

func (s *fakeServer) readLoop(c *fakeConn) {
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		var r request
		if json.Unmarshal(data, &r) != nil {
			continue
		}
		s.mu.Lock()
		s.handle(c, r)
		drop := r.Action != "ping" && s.chance(s.f.Drop)
		if drop {
			s.counts.Drops++
		}
		s.mu.Unlock()
		if drop {
			_ = c.ws.CloseNow()
			return
		}
	}
}

func (s *fakeServer) disconnect(c *fakeConn) {
	c.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	for name := range c.chans {
		ch := s.chans[name]
		delete(ch.members, c)
		s.broadcast(ch, map[string]any{"type": "left", "channel": name, "userId": c.user, "userName": c.user, "at": now()})
	}
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// emit queues a frame to one connection; the caller holds s.mu.
func (s *fakeServer) emit(c *fakeConn, v any) {
	b, _ := json.Marshal(v)
	select {
	case c.out <- b:
	default:
		_ = c.ws.CloseNow() // a client that cannot keep up is cut, as API Gateway would
	}
}

func (s *fakeServer) broadcast(ch *fakeChan, v any) {
	for m := range ch.members {
		s.emit(m, v)
	}
}

func (s *fakeServer) fail(c *fakeConn, r request, code string) {
	v := map[string]any{"type": "error", "code": code, "message": code, "action": r.Action, "requestId": "fake"}
	if !s.f.OmitProtocolAddition && r.Channel != "" {
		v["channel"] = r.Channel
		if r.ClientID != "" {
			v["clientId"] = r.ClientID
		}
	}
	s.emit(c, v)
}

func (s *fakeServer) handle(c *fakeConn, r request) {
	if r.Action == "ping" {
		s.counts.Pings++
		if !s.f.NoPong {
			s.emit(c, map[string]any{"type": "pong", "connectionId": c.id})
		}
		return
	}
	switch r.Action {
	case "reauth":
		s.reauth(c, r)
		return
	case "direct":
		s.direct(c, r)
		return
	}
	ch := s.channel(r.Channel)
	if r.Action != "join" && !ch.members[c] {
		s.fail(c, r, "not_member")
		return
	}
	switch r.Action {
	case "join":
		s.join(c, r, ch)
	case "leave":
		s.emit(c, map[string]any{"type": "left", "channel": r.Channel, "userId": c.user, "userName": c.user, "at": now()})
		delete(ch.members, c)
		delete(c.chans, r.Channel)
		s.broadcast(ch, map[string]any{"type": "left", "channel": r.Channel, "userId": c.user, "userName": c.user, "at": now()})
	case "send":
		s.send(c, r, ch)
	case "history":
		s.history(c, r, ch)
	case "members":
		s.members(c, r, ch)
	default:
		s.fail(c, r, "unknown_action")
	}
}

// reauth renews c's grant with a token of the same user, as the real
// server does (its verification aside).
func (s *fakeServer) reauth(c *fakeConn, r request) {
	sub, exp := claims(r.Token)
	switch {
	case s.f.RefuseReauth:
		s.fail(c, r, "unauthorized")
	case sub != c.user:
		s.fail(c, r, "forbidden")
	default:
		s.counts.Reauths++
		s.expireAt(c, exp)
		s.emit(c, map[string]any{"type": "reauthed", "expiresAt": exp.UTC().Format(time.RFC3339)})
	}
}

// direct answers the direct-message channel of c's user and another, and
// tells the other's connections the first time.
func (s *fakeServer) direct(c *fakeConn, r request) {
	name := wire.DirectChannel(c.user, r.UserID)
	_, existed := s.chans[name]
	s.channel(name)
	ev := map[string]any{"type": "direct", "channel": name, "userId": r.UserID, "userName": r.UserID, "at": now()}
	if !existed {
		ev["created"] = true
		for other := range s.conns {
			if other.user == r.UserID {
				s.emit(other, map[string]any{"type": "direct", "channel": name, "userId": c.user, "userName": c.user, "created": true, "at": now()})
			}
		}
	}
	s.emit(c, ev)
}

// removeUser takes every connection of user out of channel, with a
// removed event each, as a backend's removal does.
func (s *fakeServer) removeUser(channel, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channel(channel)
	for m := range ch.members {
		if m.user == user {
			delete(ch.members, m)
			delete(m.chans, channel)
			s.emit(m, map[string]any{"type": "removed", "channel": channel, "reason": "removed", "at": now()})
		}
	}
}

func (s *fakeServer) join(c *fakeConn, r request, ch *fakeChan) {
	ev := map[string]any{"type": "joined", "channel": r.Channel, "userId": c.user, "userName": c.user, "at": now()}
	if !s.f.OmitProtocolAddition {
		// As the real server: every copy carries lastSeq and the joiner's ref.
		ev["lastSeq"] = ch.seq
		if r.Ref != "" {
			ev["ref"] = r.Ref
		}
	}
	mine := ev
	if s.f.ForeignJoinFirst && !ch.members[c] {
		s.emit(c, map[string]any{"type": "joined", "channel": r.Channel, "userId": "intruder", "userName": "intruder", "at": now(), "lastSeq": ch.seq + 5, "ref": "j-someone-else"})
	}
	if ch.members[c] {
		s.emit(c, mine)
		return
	}
	ch.members[c] = true
	ch.order = append(ch.order, c)
	c.chans[r.Channel] = true
	for m := range ch.members {
		if m == c {
			s.emit(c, mine)
		} else {
			s.emit(m, ev)
		}
	}
}

// send follows the real handler: claim the clientId, take a seq, store, fan
// out, ack. Faults cut in between.
func (s *fakeServer) send(c *fakeConn, r request, ch *fakeChan) {
	if s.f.Silent {
		return
	}
	if s.chance(s.f.RateLimit) {
		s.counts.RateLimits++
		s.fail(c, r, "rate_limited")
		return
	}
	key := c.user + "\x00" + r.ClientID
	if seq, ok := ch.ids[key]; ok && (ch.msgs[seq].ClientID != "" || ch.pending[seq]) {
		if !ch.pending[seq] {
			s.emit(c, ackFrame(r, ch.msgs[seq]))
		}
		return // a retry: stored once, acked again, not delivered again
	}
	if s.chance(s.f.Internal / 2) {
		s.counts.Internals++
		s.fail(c, r, "internal")
		return
	}
	ch.seq++
	seq := ch.seq
	if s.chance(s.f.Gap) {
		s.counts.Gaps++ // the seq is burnt: never stored, never reused
		s.fail(c, r, "internal")
		return
	}
	ch.ids[key] = seq
	m := wireMessage{Seq: seq, UserID: c.user, UserName: c.user, Text: r.Text, ClientID: r.ClientID, SentAt: now()}
	if s.f.Mask != "" {
		m.Text = strings.ReplaceAll(m.Text, s.f.Mask, "****")
	}
	if s.chance(s.f.SlowStore) {
		s.counts.SlowStores++
		ch.pending[seq] = true
		d := time.Duration(20+s.rng.IntN(40)) * time.Millisecond
		time.AfterFunc(d, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			delete(ch.pending, seq)
			s.storeExcept(ch, r.Channel, m, except(c, r))
			s.ack(c, r, m)
		})
		return
	}
	s.storeExcept(ch, r.Channel, m, except(c, r))
	if s.chance(s.f.Internal / 2) {
		s.counts.Internals++ // stored and fanned out, yet the sender hears internal
		s.fail(c, r, "internal")
		return
	}
	s.ack(c, r, m)
}

// except is the connection a send's fan-out leaves out: the sender's, when
// it asked for no echo.
func except(c *fakeConn, r request) *fakeConn {
	if r.ackOnly() {
		return c
	}
	return nil
}

// ackFrame is the ack of a send; with no echo it carries the message.
func ackFrame(r request, m wireMessage) map[string]any {
	ack := map[string]any{"type": "ack", "channel": r.Channel, "clientId": r.ClientID, "seq": m.Seq}
	if r.ackOnly() {
		ack["sentAt"], ack["userId"], ack["userName"] = m.SentAt, m.UserID, m.UserName
		if m.Text != r.Text {
			ack["text"] = m.Text
		}
	}
	return ack
}

func (s *fakeServer) ack(c *fakeConn, r request, m wireMessage) {
	ack := ackFrame(r, m)
	if s.chance(s.f.AckDelay) {
		s.counts.AckDelays++
		time.AfterFunc(s.f.AckDelayBy, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.emit(c, ack)
		})
		return
	}
	s.emit(c, ack)
}

// store keeps m and fans it out with the delivery faults.
func (s *fakeServer) store(ch *fakeChan, channel string, m wireMessage) {
	s.storeExcept(ch, channel, m, nil)
}

// storeExcept is store with one connection left out of the fan-out.
func (s *fakeServer) storeExcept(ch *fakeChan, channel string, m wireMessage, except *fakeConn) {
	ch.msgs[m.Seq] = m
	ev := map[string]any{"type": "message", "channel": channel, "seq": m.Seq, "userId": m.UserID,
		"userName": m.UserName, "text": m.Text, "clientId": m.ClientID, "sentAt": m.SentAt}
	if m.From != "" {
		ev["from"] = m.From
	}
	for mem := range ch.members {
		if mem == except {
			continue
		}
		if s.chance(s.f.Reorder) {
			s.counts.Reorders++
			mem := mem
			time.AfterFunc(time.Duration(5+s.rng.IntN(30))*time.Millisecond, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.emit(mem, ev)
			})
			continue
		}
		s.emit(mem, ev)
		if s.chance(s.f.Duplicate) {
			s.counts.Duplicates++
			s.emit(mem, ev)
		}
	}
}

func (s *fakeServer) history(c *fakeConn, r request, ch *fakeChan) {
	after := int64(0)
	if r.After != nil {
		after = *r.After
	}
	limit := r.Limit
	if limit == 0 {
		limit = 50
	}
	msgs := []wireMessage{}
	next := after
	more := false
	for seq := after + 1; seq <= ch.seq; seq++ {
		m, ok := ch.msgs[seq]
		if !ok {
			continue
		}
		if len(msgs) == limit {
			more = true
			break
		}
		msgs = append(msgs, m)
		next = seq
	}
	if !more {
		next = max(next, ch.seq)
	}
	v := map[string]any{"type": "history", "channel": r.Channel, "messages": msgs, "more": more, "next": next}
	if !s.f.OmitProtocolAddition {
		s.addHistoryFields(v, ch, after, next)
	}
	s.emit(c, v)
}

// addHistoryFields sets the protocol additions: oldest, truncated, through.
func (s *fakeServer) addHistoryFields(v map[string]any, ch *fakeChan, after, next int64) {
	oldest := int64(0)
	for seq := range ch.msgs {
		if oldest == 0 || seq < oldest {
			oldest = seq
		}
	}
	if oldest == 0 && ch.oldest > 1 {
		oldest = ch.seq + 1 // everything expired: the hole ends at the counter
	}
	through := next
	for seq := range ch.pending {
		through = min(through, seq-1)
	}
	v["oldest"] = oldest
	v["truncated"] = ch.oldest > 1 && after < ch.oldest-1
	v["through"] = through
	v["after"] = after
}

func (s *fakeServer) members(c *fakeConn, r request, ch *fakeChan) {
	var live []*fakeConn
	for _, m := range ch.order {
		if ch.members[m] {
			live = append(live, m)
		}
	}
	start, _ := strconv.Atoi(r.Cursor)
	end := min(start+s.f.MembersPageSize, len(live))
	page := []map[string]any{}
	for _, m := range live[min(start, end):end] {
		page = append(page, map[string]any{"userId": m.user, "userName": m.user, "joinedAt": now()})
	}
	next := ""
	if end < len(live) {
		next = strconv.Itoa(end)
	}
	s.emit(c, map[string]any{"type": "members", "channel": r.Channel, "members": page, "next": next})
}
