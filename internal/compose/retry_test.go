package compose_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/compose"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// flakyDeletes answers the first attempt of every DeleteItem with a
// retryable 500, as DynamoDB does now and then under load; later attempts
// reach dynalite.
type flakyDeletes struct {
	next   http.RoundTripper
	faults atomic.Int64
}

func (f *flakyDeletes) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".DeleteItem") && strings.HasPrefix(r.Header.Get("Amz-Sdk-Request"), "attempt=1;") {
		f.faults.Add(1)
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
			_ = r.Body.Close()
		}
		body := `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}`
		return &http.Response{
			StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"injected"}},
			Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r,
		}, nil
	}
	return f.next.RoundTrip(r)
}

type allGone struct{}

func (allGone) Post(context.Context, string, []byte) error {
	return fmt.Errorf("post: %w", chat.ErrGone)
}

// goneBurst seeds n members, then broadcasts to them with every post
// answering 410, through a DynamoDB client with retryer r (nil: the SDK's
// default) whose deletes fail once each. It returns the stats, the removal
// failures the fan-out logged, the faults injected and the members left.
func goneBurst(t *testing.T, n int, r aws.Retryer) (chat.FanoutStats, []string, int64, int64) {
	t.Helper()
	ctx := t.Context()
	seedDB, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	seed := dynamo.New(seedDB, table, dynamo.Options{Now: clk.Now})
	ids := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range ids {
				id := fmt.Sprintf("gone-%011d", i)
				c := chat.Connection{ID: id, ConnectedAt: clk.Now(), ExpiresAt: clk.Now().Add(chat.ConnectionTTL)}
				if err := seed.PutConnection(ctx, c); err != nil {
					t.Error(err)
					continue
				}
				if _, err := seed.AddMember(ctx, chat.Member{Channel: "big", ConnectionID: id, JoinedAt: clk.Now()}, 20); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()

	faults := &flakyDeletes{next: http.DefaultTransport}
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(dynamotest.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Transport: faults}, Retryer: r,
	})
	logs := &testkit.Buffer{}
	store := dynamo.New(db, table, dynamo.Options{Now: clk.Now})
	// The deployed pool size (FanoutWorkers 128).
	f := fanout.New(store, allGone{}, fanout.Config{Workers: 128}, slog.New(slog.NewJSONHandler(logs, nil)), nil)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	stats, err := f.Broadcast(ctx, nil, "big", []byte(`{}`))
	if err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	var failures []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "remove gone connection") {
			failures = append(failures, line)
		}
	}
	left, _, err := seed.ChannelSize(t.Context(), "big")
	if err != nil {
		t.Fatal(err)
	}
	return stats, failures, faults.faults.Load(), left
}

func TestGoneBurstOfAThousandWithoutARetryQuotaError(t *testing.T) {
	const n = 1000
	stats, failures, faults, left := goneBurst(t, n, compose.DynamoRetryer())
	t.Logf("our retryer: %d gone, %d removal failures, %d DeleteItem faults injected, %d members left", stats.Gone, len(failures), faults, left)
	if stats.Gone != n || stats.Failed != 0 || stats.Skipped != 0 {
		t.Errorf("stats = %+v, want %d gone", stats, n)
	}
	if faults < n {
		t.Errorf("%d faults injected, want at least one per gone member (%d): the burst did not exercise retries", faults, n)
	}
	if len(failures) != 0 || left != 0 {
		t.Errorf("%d removals failed (first: %.300s), %d members left; want every gone member removed", len(failures), first(failures), left)
	}

	// Positive control: the SDK's default retryer, same burst, same faults.
	_, ctlFailures, ctlFaults, ctlLeft := goneBurst(t, n, nil)
	quota := 0
	for _, f := range ctlFailures {
		if strings.Contains(f, "retry quota exceeded") {
			quota++
		}
	}
	t.Logf("SDK default retryer: %d removal failures (%d retry quota exceeded), %d faults, %d members left", len(ctlFailures), quota, ctlFaults, ctlLeft)
	if quota == 0 {
		t.Errorf("the default retryer hit no retry quota error: the burst does not reproduce aws-sdk-go-v2#1665, so the test above proves nothing")
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
