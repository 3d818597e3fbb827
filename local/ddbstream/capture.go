package ddbstream

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Table is a table whose writes are captured into its stream.
type Table struct {
	Name     string
	HashKey  string
	RangeKey string // "" when the table has none
	// ViewType is the stream's StreamViewType.
	ViewType string
	// StreamARN and Region fill the records' eventSourceARN and awsRegion.
	StreamARN string
	Region    string
}

// Capture records the changes of writes to its tables. It is an
// http.Handler middleware: Wrap it around whatever forwards DynamoDB
// requests to the database (the emulator's guarded proxy to dynalite).
type Capture struct {
	tables  map[string]*captured
	locks   keyLocks
	now     func() time.Time
	maxBody int64
}

type captured struct {
	Table
	stream *Stream
}

// CaptureOptions tune a Capture and its streams.
type CaptureOptions struct {
	Stream StreamOptions
}

// NewCapture returns a capture of tables, each with a new stream.
func NewCapture(tables []Table, opts CaptureOptions) (*Capture, error) {
	c := &Capture{tables: map[string]*captured{}, now: opts.Stream.Now, maxBody: 16 << 20}
	if c.now == nil {
		c.now = time.Now
	}
	for _, t := range tables {
		switch {
		case t.Name == "" || t.HashKey == "":
			return nil, fmt.Errorf("stream capture: table %q: a name and a hash key are needed", t.Name)
		case !slices.Contains([]string{ViewKeysOnly, ViewNewImage, ViewOldImage, ViewNewAndOldImages}, t.ViewType):
			return nil, fmt.Errorf("stream capture: table %s: stream view type %q is not one of KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES", t.Name, t.ViewType)
		case c.tables[t.Name] != nil:
			return nil, fmt.Errorf("stream capture: table %s twice", t.Name)
		}
		c.tables[t.Name] = &captured{Table: t, stream: NewStream(t.Name, t.StreamARN, t.ViewType, t.Region, opts.Stream)}
	}
	return c, nil
}

// Stream returns the stream of table, or nil.
func (c *Capture) Stream(table string) *Stream {
	if t := c.tables[table]; t != nil {
		return t.stream
	}
	return nil
}

const targetPrefix = "DynamoDB_20120810."

// ReadHeader marks the reads the capture makes for itself (an item's image
// before or after a write), so a proxy behind it that counts what the
// handlers read (the benchmark's) can leave them out: on AWS the stream
// costs the writer no read.
const ReadHeader = "X-Wschat-Stream-Capture"

// Wrap returns a handler that serves DynamoDB's JSON protocol through next,
// recording the change of every write to a captured table. Other requests
// pass through untouched.
func (c *Capture) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
		if !ok || (op != "PutItem" && op != "UpdateItem" && op != "DeleteItem" && op != "BatchWriteItem") {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, c.maxBody+1))
		if err != nil || int64(len(body)) > c.maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, "com.amazon.coral.validate#ValidationException", "request body too large or unreadable")
			return
		}
		x := &exchange{c: c, next: next, orig: r}
		var resp response
		if op == "BatchWriteItem" {
			resp = x.batchWrite(body)
		} else {
			resp = x.write(op, body)
		}
		resp.writeTo(w)
	})
}

// exchange is one client request and the sub-requests made for it.
type exchange struct {
	c    *Capture
	next http.Handler
	orig *http.Request
}

// response is a buffered answer of next.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) ok() bool { return r.status == http.StatusOK }

func (r response) writeTo(w http.ResponseWriter) {
	for k, v := range r.header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(r.body)))
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

// withBody replaces the body of a successful answer, with the CRC32 the SDK
// checks (X-Amz-Crc32).
func (r response) withBody(body []byte) response {
	r.body = body
	r.header = r.header.Clone()
	r.header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	return r
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": typ, "message": msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// call sends op with body through next, as the client's request would go
// (its headers, context and credentials; dynalite does not check a
// signature's value, only the guard in front of this handler does).
func (x *exchange) call(op string, body []byte) response { return x.send(op, body, false) }

// callMarked is call for the capture's own reads (ReadHeader).
func (x *exchange) callMarked(op string, body []byte) response { return x.send(op, body, true) }

func (x *exchange) send(op string, body []byte, own bool) response {
	req := x.orig.Clone(x.orig.Context())
	if own {
		req.Header.Set(ReadHeader, "1")
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	req.Header.Del("Accept-Encoding") // the answer is parsed here
	rec := &recorder{header: http.Header{}}
	x.next.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return response{status: rec.status, header: rec.header, body: rec.buf.Bytes()}
}

// recorder is an in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.buf.Write(b)
}

// item is a DynamoDB JSON item, attribute by attribute.
type item = map[string]json.RawMessage

// write runs one PutItem, UpdateItem or DeleteItem.
func (x *exchange) write(op string, body []byte) response {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil {
		return x.call(op, body) // the database answers the malformed request
	}
	var table string
	_ = json.Unmarshal(req["TableName"], &table)
	t := x.c.tables[table]
	if t == nil {
		return x.call(op, body)
	}
	var keySource item
	if op == "PutItem" {
		_ = json.Unmarshal(req["Item"], &keySource)
	} else {
		_ = json.Unmarshal(req["Key"], &keySource)
	}
	key, keyAttrs, ok := t.key(keySource)
	if !ok {
		return x.call(op, body) // a bad key: the database says why
	}
	unlock := x.c.locks.lock(table + "\x00" + key)
	defer unlock()

	var want string
	_ = json.Unmarshal(req["ReturnValues"], &want)
	switch op {
	case "PutItem", "DeleteItem":
		return x.putOrDelete(t, op, req, keySource, keyAttrs, want)
	default:
		return x.update(t, req, keyAttrs, want)
	}
}

// putOrDelete asks the database for the old item (ReturnValues ALL_OLD, the
// only other value these take), so the record costs no extra read.
func (x *exchange) putOrDelete(t *captured, op string, req map[string]json.RawMessage, putItem, keyAttrs item, want string) response {
	req["ReturnValues"] = json.RawMessage(`"ALL_OLD"`)
	resp := x.call(op, mustJSON(req))
	if !resp.ok() {
		return resp
	}
	old, rest := attributesOf(resp.body)
	var cur item
	if op == "PutItem" {
		cur = putItem
	}
	x.c.record(t, keyAttrs, old, cur)
	if want != "ALL_OLD" {
		return resp.withBody(mustJSON(rest))
	}
	return resp
}

// update reads what the answer does not give: the item before the update
// (under the key's lock), and after it when the client asked for part of
// the item only.
func (x *exchange) update(t *captured, req map[string]json.RawMessage, keyAttrs item, want string) response {
	switch want {
	case "", "NONE", "ALL_NEW":
		old, err := x.get(t, keyAttrs)
		if err != nil {
			return *err
		}
		req["ReturnValues"] = json.RawMessage(`"ALL_NEW"`)
		resp := x.call("UpdateItem", mustJSON(req))
		if !resp.ok() {
			return resp
		}
		cur, rest := attributesOf(resp.body)
		x.c.record(t, keyAttrs, old, cur)
		if want != "ALL_NEW" {
			return resp.withBody(mustJSON(rest))
		}
		return resp
	case "ALL_OLD":
		resp := x.call("UpdateItem", mustJSON(req))
		if !resp.ok() {
			return resp
		}
		old, _ := attributesOf(resp.body)
		cur, err := x.get(t, keyAttrs)
		if err != nil {
			return *err
		}
		x.c.record(t, keyAttrs, old, cur)
		return resp
	default: // UPDATED_NEW, UPDATED_OLD (or an invalid value, which fails)
		old, err := x.get(t, keyAttrs)
		if err != nil {
			return *err
		}
		resp := x.call("UpdateItem", mustJSON(req))
		if !resp.ok() {
			return resp
		}
		cur, err := x.get(t, keyAttrs)
		if err != nil {
			return *err
		}
		x.c.record(t, keyAttrs, old, cur)
		return resp
	}
}

// get reads the item at key with a consistent read; nil when absent.
func (x *exchange) get(t *captured, key item) (item, *response) {
	b := mustJSON(map[string]any{"TableName": t.Name, "Key": key, "ConsistentRead": true})
	resp := x.callMarked("GetItem", b)
	if !resp.ok() {
		return nil, &resp
	}
	got, _ := attributesOfKey(resp.body, "Item")
	return got, nil
}

func attributesOf(body []byte) (item, map[string]json.RawMessage) {
	return attributesOfKey(body, "Attributes")
}

// attributesOfKey splits an answer into the item under name and the rest.
func attributesOfKey(body []byte, name string) (item, map[string]json.RawMessage) {
	var out map[string]json.RawMessage
	if json.Unmarshal(body, &out) != nil {
		return nil, map[string]json.RawMessage{}
	}
	var it item
	_ = json.Unmarshal(out[name], &it)
	delete(out, name)
	if len(it) == 0 {
		it = nil
	}
	return it, out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of raw JSON and strings are encoded here
	}
	return b
}

// key returns the canonical key string and the key attributes of an item
// or Key; false when an attribute is missing.
func (t *captured) key(it item) (string, item, bool) {
	names := []string{t.HashKey}
	if t.RangeKey != "" {
		names = append(names, t.RangeKey)
	}
	attrs := item{}
	var b strings.Builder
	for _, n := range names {
		raw, ok := it[n]
		if !ok {
			return "", nil, false
		}
		attrs[n] = raw
		b.WriteString(canonical(raw))
		b.WriteByte(0)
	}
	return b.String(), attrs, true
}

// record appends the stream record of a write that turned old into cur
// (nil: no item), unless nothing changed.
func (c *Capture) record(t *captured, keys, old, cur item) {
	var name string
	switch {
	case old == nil && cur == nil:
		return
	case old == nil:
		name = "INSERT"
	case cur == nil:
		name = "REMOVE"
	case sameItem(old, cur):
		return // DynamoDB Streams writes no record for a write that changed nothing
	default:
		name = "MODIFY"
	}
	data := StreamData{
		ApproximateCreationDateTime: c.now().Unix(),
		Keys:                        keys,
		StreamViewType:              t.ViewType,
	}
	switch t.ViewType {
	case ViewNewImage:
		data.NewImage = cur
	case ViewOldImage:
		data.OldImage = old
	case ViewNewAndOldImages:
		data.NewImage, data.OldImage = cur, old
	}
	data.SizeBytes = int64(len(mustJSON(keys)) + len(mustJSON(data.NewImage)) + len(mustJSON(data.OldImage)))
	t.stream.append(Record{
		EventID: newEventID(), EventName: name, EventVersion: "1.1", EventSource: "aws:dynamodb",
		AWSRegion: t.Region, Change: data, EventSourceARN: t.StreamARN,
	})
}

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sameItem compares two items as DynamoDB does: sets in any order, numbers
// by value.
func sameItem(a, b item) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || canonical(va) != canonical(vb) {
			return false
		}
	}
	return true
}

// canonical is a string equal for equal attribute values.
func canonical(raw json.RawMessage) string {
	var v map[string]any
	if json.Unmarshal(raw, &v) != nil || len(v) != 1 {
		return string(raw)
	}
	return canonicalValue(v)
}

func canonicalValue(v map[string]any) string {
	for typ, val := range v {
		switch typ {
		case "N":
			s, _ := val.(string)
			return "N:" + canonicalNumber(s)
		case "SS", "BS":
			return typ + ":" + fmt.Sprint(sortedStrings(val))
		case "NS":
			list := sortedStrings(val)
			for i, s := range list {
				list[i] = canonicalNumber(s)
			}
			slices.Sort(list)
			return "NS:" + fmt.Sprint(list)
		case "M":
			m, _ := val.(map[string]any)
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(m)) {
				inner, _ := m[k].(map[string]any)
				parts = append(parts, strconv.Quote(k)+"="+canonicalValue(inner))
			}
			return "M:{" + strings.Join(parts, ",") + "}"
		case "L":
			l, _ := val.([]any)
			parts := make([]string, 0, len(l))
			for _, e := range l {
				inner, _ := e.(map[string]any)
				parts = append(parts, canonicalValue(inner))
			}
			return "L:[" + strings.Join(parts, ",") + "]"
		default:
			b, _ := json.Marshal(val)
			return typ + ":" + string(b)
		}
	}
	return ""
}

func sortedStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, strconv.Quote(s))
	}
	slices.Sort(out)
	return out
}

func canonicalNumber(s string) string {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return s
	}
	return r.RatString()
}

// keyLocks is a mutex per item key, created on demand and dropped when no
// one holds or waits for it.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// batchWrite runs a BatchWriteItem: the requests of captured tables one by
// one as PutItem and DeleteItem (each recorded like a single write; a batch
// is not atomic on DynamoDB either), the others as one BatchWriteItem. A
// throttled request is returned in UnprocessedItems, as DynamoDB does.
func (x *exchange) batchWrite(body []byte) response {
	var req struct {
		RequestItems map[string][]map[string]json.RawMessage
	}
	var rest map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(body, &rest) != nil {
		return x.call("BatchWriteItem", body)
	}
	passThrough := map[string][]map[string]json.RawMessage{}
	unprocessed := map[string][]map[string]json.RawMessage{}
	for table, reqs := range req.RequestItems {
		if x.c.tables[table] == nil {
			passThrough[table] = reqs
			continue
		}
		for _, r := range reqs {
			op, one := "PutItem", map[string]json.RawMessage{"TableName": mustJSON(table)}
			if put, ok := r["PutRequest"]; ok {
				var p struct{ Item json.RawMessage }
				_ = json.Unmarshal(put, &p)
				one["Item"] = p.Item
			} else {
				var d struct{ Key json.RawMessage }
				_ = json.Unmarshal(r["DeleteRequest"], &d)
				op, one["Key"] = "DeleteItem", d.Key
			}
			resp := x.write(op, mustJSON(one))
			switch {
			case resp.ok():
			case resp.status == http.StatusBadRequest && strings.Contains(string(resp.body), "ThroughputExceeded"):
				unprocessed[table] = append(unprocessed[table], r)
			default:
				return resp // a malformed request: the database's own error
			}
		}
	}
	out := map[string]json.RawMessage{}
	if len(passThrough) > 0 {
		rest["RequestItems"] = mustJSON(passThrough)
		resp := x.call("BatchWriteItem", mustJSON(rest))
		if !resp.ok() {
			return resp
		}
		_ = json.Unmarshal(resp.body, &out)
		var theirs map[string][]map[string]json.RawMessage
		_ = json.Unmarshal(out["UnprocessedItems"], &theirs)
		for t, r := range theirs {
			unprocessed[t] = append(unprocessed[t], r...)
		}
	}
	out["UnprocessedItems"] = mustJSON(unprocessed)
	hdr := http.Header{"Content-Type": {"application/x-amz-json-1.0"}}
	return response{status: http.StatusOK, header: hdr}.withBody(mustJSON(out))
}
