package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Virtual connections (Config.VirtualConnections, the emulator's
// --virtual-connections) are connection ids with no socket behind them. The
// @connections API treats them as connected clients: POST answers 200 and
// is counted (the body is dropped), GET answers, DELETE removes the id, and
// every call goes through the account throttle and --post-latency like any
// other. They let a benchmark fan out to more members than one machine's
// sockets hold. They exist only in the emulator: nothing like them is ever
// deployed.

// MaxVirtualPerRequest bounds one registration request, and MaxVirtual
// the virtual ids registered at once (about 100 MB of gateway memory): a
// caller asks again for more, up to the total.
const (
	MaxVirtualPerRequest = 100_000
	MaxVirtual           = 1_000_000
)

// VirtualPath is where the admin endpoint is served.
const VirtualPath = "/@admin/virtual-connections"

type virtualConn struct {
	connectedAt time.Time
	lastActive  atomic.Int64 // unix ms of the last post
	posts       atomic.Int64
}

type virtualConns struct {
	mu  sync.RWMutex
	ids map[string]*virtualConn
}

// VirtualStats is GET /@admin/virtual-connections's answer.
type VirtualStats struct {
	// Connections is how many virtual ids are registered now.
	Connections int `json:"connections"`
	// Posts counts the POSTs answered 200 to virtual ids.
	Posts int64 `json:"posts"`
	// Reached is how many registered ids got at least one post.
	Reached int `json:"reached"`
}

func (v *virtualConns) lookup(id string) *virtualConn {
	if v == nil {
		return nil
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.ids[id]
}

// add registers n new ids, or none when that would pass MaxVirtual.
func (v *virtualConns) add(n int) ([]string, bool) {
	ids := make([]string, 0, n)
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.ids)+n > MaxVirtual {
		return nil, false
	}
	for len(ids) < n {
		id := newID()
		if v.ids[id] != nil {
			continue
		}
		vc := &virtualConn{connectedAt: now}
		vc.lastActive.Store(now.UnixMilli())
		v.ids[id] = vc
		ids = append(ids, id)
	}
	return ids, true
}

func (v *virtualConns) remove(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.ids[id]
	delete(v.ids, id)
	return ok
}

// stats sums the counters; reset zeroes them after reading.
func (v *virtualConns) stats(reset bool) VirtualStats {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := VirtualStats{Connections: len(v.ids)}
	for _, vc := range v.ids {
		n := vc.posts.Load()
		if reset {
			n = vc.posts.Swap(0)
		}
		s.Posts += n
		if n > 0 {
			s.Reached++
		}
	}
	return s
}

// AdminHandler serves VirtualPath: POST ?count=N (1–MaxVirtualPerRequest,
// at most MaxVirtual registered at once) registers N virtual connection
// ids and returns them ({"connectionIds":[...]}); GET returns
// the counters (?reset=1 zeroes them after reading); DELETE removes every
// virtual id. Without Config.VirtualConnections it answers 404.
func (g *Gateway) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.virtual == nil || r.URL.Path != VirtualPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodPost:
			n, err := strconv.Atoi(r.URL.Query().Get("count"))
			if err != nil || n < 1 || n > MaxVirtualPerRequest {
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"message": "want ?count=N, 1-" + strconv.Itoa(MaxVirtualPerRequest)})
				return
			}
			ids, ok := g.virtual.add(n)
			if !ok {
				w.WriteHeader(http.StatusConflict)
				_ = json.NewEncoder(w).Encode(map[string]string{"message": "at most " + strconv.Itoa(MaxVirtual) + " virtual connections at once; DELETE them first"})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string][]string{"connectionIds": ids})
		case http.MethodGet:
			_ = json.NewEncoder(w).Encode(g.virtual.stats(r.URL.Query().Get("reset") == "1"))
		case http.MethodDelete:
			g.virtual.mu.Lock()
			n := len(g.virtual.ids)
			g.virtual.ids = map[string]*virtualConn{}
			g.virtual.mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]int{"removed": n})
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}

// VirtualStats returns the virtual connections' counters (zero without
// Config.VirtualConnections).
func (g *Gateway) VirtualStats() VirtualStats {
	if g.virtual == nil {
		return VirtualStats{}
	}
	return g.virtual.stats(false)
}
