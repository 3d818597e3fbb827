package gateway

import (
	"encoding/json"
	"maps"
	"net/http"
	"sync"
)

// MetricsPath serves the gateway's meters (GET; ?reset=1 zeroes them after
// reading), for benchmarks that price what a workload costs.
const MetricsPath = "/@admin/metrics"

// Metrics counts what API Gateway meters and bills for the WebSocket API:
// messages each way, and the integrations it ran.
type Metrics struct {
	// MessagesIn are client messages received, by selected route key
	// (messages refused by the throttle or by no route included, under
	// their key or "").
	MessagesIn map[string]int64 `json:"messagesIn"`
	// MessagesOut are messages sent to clients: @connections posts, route
	// responses and API Gateway's own error frames.
	MessagesOut int64 `json:"messagesOut"`
	// Invocations are integration invocations (Lambda), by route key;
	// authorizers count under "authorizer".
	Invocations map[string]int64 `json:"invocations"`
	// MockAnswers are messages a MOCK integration answered, no function run.
	MockAnswers int64 `json:"mockAnswers"`
	// Processing is a gauge, never reset: client messages received and not
	// yet handled (waiting for a slot, or their integration running), and
	// $connect and $disconnect invocations running. A test that must know
	// nothing is in flight waits for 0 instead of sleeping.
	Processing int64 `json:"processing"`
}

type meters struct {
	mu sync.Mutex
	m  Metrics
}

func newMeters() *meters {
	return &meters{m: Metrics{MessagesIn: map[string]int64{}, Invocations: map[string]int64{}}}
}

func (m *meters) add(f func(*Metrics)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.m)
}

func (m *meters) snapshot(reset bool) Metrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.m
	out.MessagesIn = maps.Clone(m.m.MessagesIn)
	out.Invocations = maps.Clone(m.m.Invocations)
	if reset {
		processing := m.m.Processing
		m.m = newMeters().m
		m.m.Processing = processing
	}
	return out
}

// Metrics returns the meters' current values.
func (g *Gateway) Metrics() Metrics { return g.meters.snapshot(false) }

func (g *Gateway) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(g.meters.snapshot(r.URL.Query().Get("reset") == "1"))
}

// busy counts one unit of work in the Processing gauge until done is called.
func (m *meters) busy() (done func()) {
	m.add(func(x *Metrics) { x.Processing++ })
	return func() { m.add(func(x *Metrics) { x.Processing-- }) }
}
