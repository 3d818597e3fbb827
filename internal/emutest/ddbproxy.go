package emutest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/sigv4"
)

// DynamoProxy sits between the emulator's handler processes and dynalite
// (the emulator gets its URL as --dynamodb-endpoint). It counts what the real
// handlers read and write: calls per operation, items read (GetItem hits and
// Query/Scan ScannedCount) and the capacity units DynamoDB would charge. For
// the capacity it adds ReturnConsumedCapacity TOTAL to each item request
// (dynalite computes it like DynamoDB; the service ignores the extra
// response field) and signs the edited request again with the local
// credentials. Like dynalite's own endpoint it sits behind dynalite.Guard:
// a web page cannot use it, and only requests signed with the local
// credentials pass. It can also hold a request, to stop a handler at a
// known step.
type DynamoProxy struct {
	upstream string
	client   *http.Client
	srv      *http.Server
	ln       net.Listener

	mu    sync.Mutex
	c     DynamoCounts
	holds []*Hold
}

// DynamoCounts is a snapshot of the proxy's counters.
type DynamoCounts struct {
	Calls     map[string]int `json:"calls"`
	ItemsRead int            `json:"itemsRead"`
	ReadCU    float64        `json:"readCapacityUnits"`
	WriteCU   float64        `json:"writeCapacityUnits"`
}

func (c DynamoCounts) clone() DynamoCounts {
	out := c
	out.Calls = map[string]int{}
	for k, v := range c.Calls {
		out.Calls[k] = v
	}
	return out
}

var readOps = map[string]bool{"GetItem": true, "Query": true, "Scan": true, "BatchGetItem": true}

var capacityOps = map[string]bool{
	"GetItem": true, "Query": true, "Scan": true, "BatchGetItem": true,
	"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true,
}

// StartDynamoProxy serves a proxy to the DynamoDB endpoint upstream on a
// loopback port.
func StartDynamoProxy(upstream string) (*DynamoProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &DynamoProxy{
		upstream: strings.TrimSuffix(upstream, "/"),
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     time.Minute,
		}},
		ln: ln,
		c:  DynamoCounts{Calls: map[string]int{}},
	}
	p.srv = &http.Server{Handler: dynalite.Guard(ln.Addr().String(), p, nil), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's endpoint.
func (p *DynamoProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy and releases every held request.
func (p *DynamoProxy) Close() error {
	p.mu.Lock()
	holds := p.holds
	p.holds = nil
	p.mu.Unlock()
	for _, h := range holds {
		h.Release()
	}
	return p.srv.Close()
}

// Reset zeroes the counters and returns what they held.
func (p *DynamoProxy) Reset() DynamoCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.c
	p.c = DynamoCounts{Calls: map[string]int{}}
	return old
}

// Snapshot returns a copy of the counters.
func (p *DynamoProxy) Snapshot() DynamoCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c.clone()
}

// Hold is one request the proxy keeps from DynamoDB until Release.
type Hold struct {
	match    func(op string, body []byte) bool
	held     chan struct{}
	release  chan struct{}
	once     sync.Once
	fired    bool
	Op       string // the held request's operation, once held
	RemoteIP string // the held request's client address, once held
}

// Held is closed when a request has been held.
func (h *Hold) Held() <-chan struct{} { return h.held }

// Release lets the held request (and any later one) through.
func (h *Hold) Release() { h.once.Do(func() { close(h.release) }) }

// Hold holds the first later request for which match (given the operation,
// e.g. "Query", and the JSON body) is true, until Release. A held request
// whose client goes away is dropped, never forwarded.
func (p *DynamoProxy) Hold(match func(op string, body []byte) bool) *Hold {
	h := &Hold{match: match, held: make(chan struct{}), release: make(chan struct{})}
	p.mu.Lock()
	p.holds = append(p.holds, h)
	p.mu.Unlock()
	return h
}

// take returns the first pending hold matching the request, marking it fired.
func (p *DynamoProxy) take(op string, body []byte, remote string) *Hold {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.holds {
		if !h.fired && h.match(op, body) {
			h.fired = true
			h.Op, h.RemoteIP = op, remote
			close(h.held)
			return h
		}
	}
	return nil
}

func (p *DynamoProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	if h := p.take(op, body, r.RemoteAddr); h != nil {
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
	if capacityOps[op] {
		body = withConsumedCapacity(body)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range r.Header {
		if k == "Content-Length" {
			continue
		}
		req.Header[k] = vs
	}
	req.ContentLength = int64(len(body))
	// The guard verified the caller's signature; the body may have changed.
	if err := sigv4.Sign(req, body, dynalite.Credentials, "dynamodb", sigv4.RegionOf(r)); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	// The emulator's stream capture reads items for itself
	// (local/ddbstream.ReadHeader): not a handler's read, not counted.
	if resp.StatusCode == http.StatusOK && r.Header.Get("X-Wschat-Stream-Capture") == "" {
		p.count(op, out)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// withConsumedCapacity sets ReturnConsumedCapacity TOTAL in a request body.
func withConsumedCapacity(body []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	if _, ok := m["ReturnConsumedCapacity"]; ok {
		return body
	}
	m["ReturnConsumedCapacity"] = json.RawMessage(`"TOTAL"`)
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// ddbResponse is the part of a response the proxy counts.
type ddbResponse struct {
	Item             json.RawMessage  `json:"Item"`
	ScannedCount     *int             `json:"ScannedCount"`
	Responses        map[string][]any `json:"Responses"`
	ConsumedCapacity json.RawMessage  `json:"ConsumedCapacity"`
}

type capacity struct {
	CapacityUnits float64 `json:"CapacityUnits"`
}

func (p *DynamoProxy) count(op string, body []byte) {
	var r ddbResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return
	}
	items := 0
	switch op {
	case "GetItem":
		if len(r.Item) > 0 && string(r.Item) != "null" {
			items = 1
		}
	case "Query", "Scan":
		if r.ScannedCount != nil {
			items = *r.ScannedCount
		}
	case "BatchGetItem":
		for _, v := range r.Responses {
			items += len(v)
		}
	}
	cu := 0.0
	if len(r.ConsumedCapacity) > 0 {
		var one capacity
		var many []capacity
		if json.Unmarshal(r.ConsumedCapacity, &one) == nil {
			cu = one.CapacityUnits
		} else if json.Unmarshal(r.ConsumedCapacity, &many) == nil {
			for _, c := range many {
				cu += c.CapacityUnits
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.c.Calls[op]++
	p.c.ItemsRead += items
	if readOps[op] {
		p.c.ReadCU += cu
	} else {
		p.c.WriteCU += cu
	}
}

// CallsString formats calls per operation, in a fixed order.
func (c DynamoCounts) CallsString() string {
	names := []string{"GetItem", "Query", "Scan", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
	var parts []string
	for _, n := range names {
		if v := c.Calls[n]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", n, v))
		}
	}
	return strings.Join(parts, ", ")
}
