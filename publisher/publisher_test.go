package publisher_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/publisher"
)

// server answers with the statuses in order (the last one repeats). Every
// attempt must be signed anew for execute-api; that the signature verifies is
// checked against the emulator's verifier in the server module
// (internal/publish), which this module must not import.
func server(t *testing.T, statuses []int, bodies []string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		_, _ = io.ReadAll(r.Body)
		if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=local/") || !strings.Contains(a, "/us-east-1/execute-api/aws4_request") {
			t.Errorf("attempt %d: Authorization %q is not a SigV4 signature for execute-api", i, a)
		}
		if r.Header.Get("X-Amz-Date") == "" {
			t.Errorf("attempt %d: no X-Amz-Date", i)
		}
		i = min(i, len(statuses)-1)
		w.WriteHeader(statuses[i])
		_, _ = io.WriteString(w, bodies[i])
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func client(t *testing.T, endpoint string) *publisher.Client {
	c, err := publisher.New(publisher.Options{Endpoint: endpoint + "/@http/dev", Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), BaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetriesAndTypedErrors(t *testing.T) {
	ok := `{"channel":"general","id":"o1","seq":7}`
	tests := []struct {
		name     string
		statuses []int
		bodies   []string
		wantErr  error
		attempts int32
	}{
		{"ok", []int{200}, []string{ok}, nil, 1},
		{"throttled twice, then ok", []int{429, 429, 200}, []string{`{"message":"Too Many Requests"}`, `{"message":"Too Many Requests"}`, ok}, nil, 3},
		{"a 503, then ok", []int{503, 200}, []string{`{"code":"unavailable","message":"retry"}`, ok}, nil, 2},
		{"bad field: no retry", []int{400}, []string{`{"code":"invalid_field","message":"channel must match"}`}, publisher.ErrInvalid, 1},
		{"refused signature", []int{403}, []string{`{"message":"Forbidden"}`}, publisher.ErrForbidden, 1},
		{"unknown route", []int{404}, []string{`{"message":"Not Found"}`}, publisher.ErrNotFound, 1},
		{"too large", []int{413}, []string{`{"code":"too_large","message":"text is 4001 characters"}`}, publisher.ErrTooLarge, 1},
		{"always throttled", []int{429}, []string{`{"message":"Too Many Requests"}`}, publisher.ErrThrottled, 4},
		{"always failing", []int{500}, []string{`{"code":"internal","message":"boom"}`}, publisher.ErrServer, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := server(t, tt.statuses, tt.bodies)
			got, err := client(t, srv.URL).Publish(context.Background(), "general", "o1", "shipped")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && got.Seq != 7) {
				t.Errorf("Publish = %+v, %v; want error %v", got, err, tt.wantErr)
			}
			var perr *publisher.Error
			if tt.wantErr != nil && (!errors.As(err, &perr) || perr.Message == "") {
				t.Errorf("error %v is not an *Error with a message", err)
			}
			if n.Load() != tt.attempts {
				t.Errorf("%d attempts, want %d", n.Load(), tt.attempts)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	for _, o := range []publisher.Options{
		{Endpoint: "ftp://x", Region: "us-east-1", Credentials: creds},
		{Endpoint: "http://127.0.0.1:1", Credentials: creds},
		{Endpoint: "http://127.0.0.1:1", Region: "us-east-1"},
	} {
		if _, err := publisher.New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
