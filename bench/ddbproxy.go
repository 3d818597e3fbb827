package main

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
)

// countingProxy sits between the emulator's handler processes and dynalite
// (the emulator gets its URL as --dynamodb-endpoint) and counts what the real
// handlers read and write: calls per operation, items read (GetItem hits and
// Query/Scan ScannedCount) and the capacity units DynamoDB would charge.
// For the capacity it adds ReturnConsumedCapacity TOTAL to each request
// (dynalite computes it like DynamoDB; it does not check signatures, so the
// edited body is accepted). The service ignores the extra response field.
type countingProxy struct {
	upstream string
	client   *http.Client
	srv      *http.Server
	ln       net.Listener

	mu sync.Mutex
	c  ddbCounts
}

// ddbCounts is a snapshot of the proxy's counters.
type ddbCounts struct {
	Calls     map[string]int `json:"calls"`
	ItemsRead int            `json:"itemsRead"`
	ReadCU    float64        `json:"readCapacityUnits"`
	WriteCU   float64        `json:"writeCapacityUnits"`
}

func (c ddbCounts) clone() ddbCounts {
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

func startCountingProxy(upstream string) (*countingProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{
		upstream: strings.TrimSuffix(upstream, "/"),
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     time.Minute,
		}},
		ln: ln,
		c:  ddbCounts{Calls: map[string]int{}},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's endpoint.
func (p *countingProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *countingProxy) Close() error { return p.srv.Close() }

// Reset zeroes the counters and returns what they held.
func (p *countingProxy) Reset() ddbCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.c
	p.c = ddbCounts{Calls: map[string]int{}}
	return old
}

// Snapshot returns a copy of the counters.
func (p *countingProxy) Snapshot() ddbCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c.clone()
}

func (p *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
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
	if resp.StatusCode == http.StatusOK {
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

func (p *countingProxy) count(op string, body []byte) {
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

// callsString formats calls per operation, sorted by name.
func (c ddbCounts) callsString() string {
	names := []string{"GetItem", "Query", "Scan", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
	var parts []string
	for _, n := range names {
		if v := c.Calls[n]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", n, v))
		}
	}
	return strings.Join(parts, ", ")
}
