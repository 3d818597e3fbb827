package gateway

import (
	"net/http"
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
}

type usageCounters struct {
	messagesIn, unitsIn, bytesIn, messagesOut, unitsOut, bytesOut atomic.Int64
	connects, disconnects, endedMs, managementCalls               atomic.Int64
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
	}
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
