package queue

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/local/sqs"
)

func testConfig() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
}

// Against the emulator's SQS (the JSON protocol the SDK speaks): 25 tasks,
// nine of them large, arrive once each, in batches within SQS's limits.
func TestEnqueueSendsEveryBodyInBatches(t *testing.T) {
	b := sqs.NewBroker(nil)
	if err := b.AddQueue(sqs.QueueConfig{Name: "tasks", VisibilityTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	h := &sqs.Handler{Broker: b}
	var mu sync.Mutex
	var calls []int // bytes of each SendMessageBatch request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SendMessageBatch") {
			mu.Lock()
			calls = append(calls, int(r.ContentLength))
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	h.Base = srv.URL
	c := New(testConfig(), h.QueueURL("tasks"), srv.URL)

	var bodies [][]byte
	for i := range 25 {
		body := fmt.Appendf(nil, `{"shard":%d}`, i)
		if i%3 == 0 {
			body = fmt.Appendf(nil, `{"shard":%d,"pad":"%s"}`, i, strings.Repeat("x", 100_000))
		}
		bodies = append(bodies, body)
	}
	if err := c.Enqueue(t.Context(), bodies); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	got := map[string]int{}
	for range 10 {
		msgs, err := b.Receive(t.Context(), "tasks", 10, time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got[m.Body]++
		}
	}
	for _, body := range bodies {
		if got[string(body)] != 1 {
			t.Errorf("task %.20q received %d times, want 1", body, got[string(body)])
		}
	}
	if len(got) != 25 {
		t.Errorf("received %d distinct tasks, want 25", len(got))
	}
	for _, n := range calls {
		if n > MaxBatchBytes+16*1024 { // bodies within the limit, plus JSON framing
			t.Errorf("a batch request of %d bytes", n)
		}
	}
	if len(calls) < 5 {
		t.Errorf("%d batch calls for 25 tasks (9 of 100 KB, two fit a batch), want at least 5", len(calls))
	}
	t.Logf("25 tasks in %d SendMessageBatch calls", len(calls))
}

// failingSQS answers SendMessageBatch, failing the entries named in fail
// (consumed per call) with a server-side or a sender fault.
type failingSQS struct {
	mu       sync.Mutex
	fail     []map[string]bool // per call: entry ids to fail
	sender   bool
	accepted map[string]int // body → times accepted
	calls    int
}

func (f *failingSQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entries []struct{ Id, MessageBody string }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var failNow map[string]bool
	if f.calls < len(f.fail) {
		failNow = f.fail[f.calls]
	}
	f.calls++
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	type bad struct {
		Id, Code, Message string
		SenderFault       bool
	}
	out := struct {
		Successful []ok
		Failed     []bad
	}{Successful: []ok{}, Failed: []bad{}}
	for _, e := range in.Entries {
		if failNow[e.Id] {
			out.Failed = append(out.Failed, bad{e.Id, "InternalError", "try again", f.sender})
			continue
		}
		sum := md5.Sum([]byte(e.MessageBody))
		f.accepted[e.MessageBody]++
		out.Successful = append(out.Successful, ok{e.Id, "m-" + e.Id, hex.EncodeToString(sum[:])})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(out)
	_, _ = w.Write(buf.Bytes())
}

func TestEnqueueRetriesTheEntriesSQSFailed(t *testing.T) {
	f := &failingSQS{fail: []map[string]bool{{"1": true, "4": true}, {"4": true}}, accepted: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := New(testConfig(), srv.URL+"/000000000000/tasks", srv.URL)
	c.sleep = func(context.Context, time.Duration) error { return nil }
	bodies := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")}
	if err := c.Enqueue(t.Context(), bodies); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	for _, b := range bodies {
		if f.accepted[string(b)] != 1 {
			t.Errorf("%s accepted %d times, want once", b, f.accepted[string(b)])
		}
	}
	if f.calls != 3 {
		t.Errorf("%d calls, want 3 (all, then b and e, then e)", f.calls)
	}
}

func TestEnqueueReportsWhatSQSKeepsRefusing(t *testing.T) {
	always := map[string]bool{"0": true}
	f := &failingSQS{fail: []map[string]bool{always, always, always, always, always}, accepted: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := New(testConfig(), srv.URL+"/000000000000/tasks", srv.URL)
	c.sleep = func(context.Context, time.Duration) error { return nil }
	err := c.Enqueue(t.Context(), [][]byte{[]byte("a"), []byte("b")})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 tasks still failed after 4 attempts") {
		t.Errorf("Enqueue = %v, want 1 of 2 failed after 4 attempts", err)
	}
	f2 := &failingSQS{fail: []map[string]bool{always}, sender: true, accepted: map[string]int{}}
	srv2 := httptest.NewServer(f2)
	defer srv2.Close()
	c2 := New(testConfig(), srv2.URL+"/000000000000/tasks", srv2.URL)
	if err := c2.Enqueue(t.Context(), [][]byte{[]byte("a")}); err == nil || f2.calls != 1 {
		t.Errorf("Enqueue with a sender fault = %v after %d calls, want an error after 1", err, f2.calls)
	}
	big := make([]byte, MaxBatchBytes+1)
	if err := c2.Enqueue(t.Context(), [][]byte{big}); err == nil || f2.calls != 1 {
		t.Errorf("Enqueue of a too large body = %v, want an error before any call", err)
	}
}
