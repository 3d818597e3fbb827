package gateway

import (
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Usage is what API Gateway would bill a WebSocket API for, as this
// gateway saw it: messages received from clients and sent to them
// (metered in 32 KB units: a 33 KB message is two), connections made and
// the time they stayed open (connection minutes), and the calls to the
// @connections API. Counters only grow: a reader takes the difference of
// two readings.
type Usage struct {
	MessagesIn  int64 `json:"messagesIn"`  // data messages received from clients
	UnitsIn     int64 `json:"unitsIn"`     // the same in 32 KB units
	BytesIn     int64 `json:"bytesIn"`     //
	MessagesOut int64 `json:"messagesOut"` // messages sent to clients: @connections posts, route responses, error frames; posts to virtual connections included
	UnitsOut    int64 `json:"unitsOut"`    // the same in 32 KB units
	BytesOut    int64 `json:"bytesOut"`    //
	Connects    int64 `json:"connects"`    // connections accepted (after $connect)
	Disconnects int64 `json:"disconnects"` // connections ended
	// ConnectedMs is the time every connection stayed open, summed, up to
	// its end (connections still open count up to the reading).
	ConnectedMs int64 `json:"connectedMs"`
	// ManagementCalls counts @connections calls (POST, GET and DELETE)
	// that were answered, whatever the answer.
	ManagementCalls int64 `json:"managementCalls"`
	// MessagesByRoute are MessagesIn by selected route key ("" for none,
	// and for messages refused with too many pending).
	MessagesByRoute map[string]int64 `json:"messagesByRoute"`
	// Invocations are integration (Lambda) invocations by route key;
	// authorizers count under "authorizer".
	Invocations map[string]int64 `json:"invocations"`
	// MockAnswers are messages a MOCK integration answered: no function ran.
	MockAnswers int64 `json:"mockAnswers"`
	// Processing is a gauge, not a counter: messages received and not yet
	// handled (waiting for a slot, or their integration running), and
	// $connect and $disconnect invocations running. A test that must know
	// nothing is in flight waits for 0 instead of sleeping.
	Processing int64 `json:"processing"`
}

type usageCounters struct {
	messagesIn, unitsIn, bytesIn, messagesOut, unitsOut, bytesOut atomic.Int64
	connects, disconnects, endedMs, managementCalls               atomic.Int64
	mockAnswers, processing                                       atomic.Int64

	mu          sync.Mutex
	byRoute     map[string]int64
	invocations map[string]int64
}

// routed counts a message of route key.
func (u *usageCounters) routed(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byRoute == nil {
		u.byRoute = map[string]int64{}
	}
	u.byRoute[key]++
}

// invoked counts an integration invocation for route key.
func (u *usageCounters) invoked(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.invocations == nil {
		u.invocations = map[string]int64{}
	}
	u.invocations[key]++
}

// busy counts one unit of work in the Processing gauge until done is called.
func (u *usageCounters) busy() (done func()) {
	u.processing.Add(1)
	return func() { u.processing.Add(-1) }
}

// units is n bytes in API Gateway's 32 KB metering units (at least one).
func units(n int) int64 { return int64(max(1, (n+MaxFrameBytes-1)/MaxFrameBytes)) }

func (u *usageCounters) received(n int) {
	u.messagesIn.Add(1)
	u.unitsIn.Add(units(n))
	u.bytesIn.Add(int64(n))
}

func (u *usageCounters) sent(n int) {
	u.messagesOut.Add(1)
	u.unitsOut.Add(units(n))
	u.bytesOut.Add(int64(n))
}

// Usage reads the counters.
func (g *Gateway) Usage() Usage {
	u := &g.usage
	out := Usage{
		MessagesIn: u.messagesIn.Load(), UnitsIn: u.unitsIn.Load(), BytesIn: u.bytesIn.Load(),
		MessagesOut: u.messagesOut.Load(), UnitsOut: u.unitsOut.Load(), BytesOut: u.bytesOut.Load(),
		Connects: u.connects.Load(), Disconnects: u.disconnects.Load(), ConnectedMs: u.endedMs.Load(),
		ManagementCalls: u.managementCalls.Load(),
		MockAnswers:     u.mockAnswers.Load(), Processing: u.processing.Load(),
	}
	u.mu.Lock()
	out.MessagesByRoute, out.Invocations = maps.Clone(u.byRoute), maps.Clone(u.invocations)
	u.mu.Unlock()
	now := time.Now()
	g.mu.RLock()
	for _, c := range g.conns {
		out.ConnectedMs += now.Sub(c.connectedAt).Milliseconds()
	}
	g.mu.RUnlock()
	return out
}

// countCall counts a call of the @connections API.
func (g *Gateway) countCall(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g.usage.managementCalls.Add(1)
		h(w, r)
	}
}
