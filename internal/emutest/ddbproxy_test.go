package emutest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/sigv4"
)

// signedRequest is a DynamoDB request as the SDK sends it: signed with the
// local credentials.
func signedRequest(t *testing.T, url, op, body string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if err := sigv4.Sign(req, []byte(body), dynalite.Credentials, "dynamodb", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestWithConsumedCapacity(t *testing.T) {
	got := withConsumedCapacity([]byte(`{"TableName":"t","Key":{}}`))
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil || m["ReturnConsumedCapacity"] != "TOTAL" || m["TableName"] != "t" {
		t.Errorf("got %s (%v)", got, err)
	}
	keep := `{"ReturnConsumedCapacity":"NONE"}`
	if got := string(withConsumedCapacity([]byte(keep))); got != keep {
		t.Errorf("an explicit setting is kept: got %s", got)
	}
}

// TestCountingProxyCountsReadsAndCapacity runs the proxy against a fake
// DynamoDB that answers like dynalite.
func TestCountingProxyCountsReadsAndCapacity(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]bool{}
	unsigned := 0
	v := &sigv4.Verifier{Creds: dynalite.Credentials, Service: "dynamodb"}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		op := r.Header.Get("X-Amz-Target")
		mu.Lock()
		asked[op] = strings.Contains(string(body), `"ReturnConsumedCapacity":"TOTAL"`)
		if v.Verify(r, body) != nil {
			unsigned++
		}
		mu.Unlock()
		switch op {
		case "DynamoDB_20120810.GetItem":
			_, _ = io.WriteString(w, `{"Item":{"pk":{"S":"a"}},"ConsumedCapacity":{"CapacityUnits":0.5}}`)
		case "DynamoDB_20120810.Query":
			_, _ = io.WriteString(w, `{"Count":3,"ScannedCount":4,"Items":[],"ConsumedCapacity":{"CapacityUnits":1}}`)
		case "DynamoDB_20120810.PutItem":
			_, _ = io.WriteString(w, `{"ConsumedCapacity":{"CapacityUnits":1}}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer upstream.Close()
	p, err := StartDynamoProxy(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	call := func(op string) {
		resp, err := http.DefaultClient.Do(signedRequest(t, p.URL()+"/", op, `{"TableName":"t"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	call("GetItem")
	call("Query")
	call("PutItem")
	call("DescribeTable") // 400: not counted
	got := p.Snapshot()
	if got.ItemsRead != 5 || got.ReadCU != 1.5 || got.WriteCU != 1 || got.Calls["GetItem"] != 1 || got.Calls["DescribeTable"] != 0 {
		t.Errorf("counts: %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !asked["DynamoDB_20120810.GetItem"] || !asked["DynamoDB_20120810.PutItem"] || asked["DynamoDB_20120810.DescribeTable"] {
		t.Errorf("the proxy must ask for the consumed capacity on item operations only: %v", asked)
	}
	if unsigned != 0 {
		t.Errorf("%d edited requests reached DynamoDB without a valid signature", unsigned)
	}
	// A page cannot use the proxy, nor can an unsigned caller.
	for name, req := range map[string]*http.Request{
		"cross-origin": func() *http.Request {
			r := signedRequest(t, p.URL()+"/", "GetItem", `{}`)
			r.Header.Set("Origin", "http://evil.example")
			return r
		}(),
		"unsigned": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, p.URL()+"/", bytes.NewReader([]byte(`{}`)))
			r.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
			return r
		}(),
	} {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("%s request through the proxy: %d, want refused", name, resp.StatusCode)
		}
	}
	if got := p.Snapshot().Calls["GetItem"]; got != 1 {
		t.Errorf("refused requests were counted: %d GetItems", got)
	}
	if p.Reset(); p.Snapshot().ItemsRead != 0 {
		t.Error("Reset did not clear the counters")
	}
}

func TestDynamoProxyHoldsOneMatchingRequest(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"Count":0,"ScannedCount":0,"Items":[]}`)
	}))
	defer upstream.Close()
	p, err := StartDynamoProxy(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := p.Hold(func(op string, body []byte) bool { return op == "Query" && strings.Contains(string(body), "CHAN#x") })
	query := func(pk string) <-chan error {
		done := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(signedRequest(t, p.URL()+"/", "Query", `{"TableName":"t","ExpressionAttributeValues":{":pk":{"S":"`+pk+`"}}}`))
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		return done
	}
	if err := <-query("CHAN#other"); err != nil {
		t.Fatalf("a request that does not match is not held: %v", err)
	}
	held := query("CHAN#x")
	select {
	case <-h.Held():
	case <-time.After(5 * time.Second):
		t.Fatal("the matching request was not held")
	}
	select {
	case err := <-held:
		t.Fatalf("the held request was answered before Release: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := <-query("CHAN#x"); err != nil {
		t.Fatalf("only the first matching request is held: %v", err)
	}
	h.Release()
	if err := <-held; err != nil {
		t.Fatalf("the released request failed: %v", err)
	}
	if h.Op != "Query" || h.RemoteIP == "" {
		t.Errorf("hold did not record its request: %+v", h)
	}
}
