package connections_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/connections"
	"github.com/wschat/wschat/internal/connections/sdkposter"
)

// cannedTransport answers every request with a fresh 200 and no network,
// so a benchmark measures the poster alone: building, signing, sending
// through net/http's client and reading the answer.
type cannedTransport struct{ status int }

func (t cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	h := http.Header{"X-Amzn-Requestid": {"4c0d0a2e-6f0b-4c5a-9d6a-2f1f5d7f3b11"}}
	return &http.Response{StatusCode: t.status, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r, ContentLength: 0}, nil
}

var benchCfg = aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", "token"))}

// posters are the two implementations, over the same HTTP client.
func posters(tb testing.TB, hc *http.Client, url string) map[string]chat.Poster {
	tb.Helper()
	lean, err := connections.New(benchCfg, url, connections.Options{HTTPClient: hc})
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]chat.Poster{
		"lean": lean,
		"sdk":  sdkposter.New(benchCfg, url, sdkposter.Options{HTTPClient: hc}),
	}
}

// BenchmarkPost compares the lean poster with the SDK's client, each post
// answered without a network (allocations and CPU of the poster itself):
//
//	go test -run '^$' -bench BenchmarkPost -benchmem ./internal/connections
func BenchmarkPost(b *testing.B) {
	hc := &http.Client{Transport: cannedTransport{status: http.StatusOK}}
	frame := []byte(`{"type":"message","channel":"general","seq":42,"userId":"u1","userName":"Ada","text":"hello there","clientId":"c-42","sentAt":"2026-12-01T10:00:00Z"}`)
	for _, name := range []string{"lean", "sdk"} {
		p := posters(b, hc, "https://abc123.execute-api.us-east-1.amazonaws.com/dev")[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := b.Context()
			for b.Loop() {
				if err := p.Post(ctx, "TWegAcC4EowCHnA=", frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPostersAgree checks the lean poster classifies every answer as the
// SDK's client did, on the same gateway: the benchmark compares two
// posters that do the same job.
func TestPostersAgree(t *testing.T) {
	cases := []struct {
		status    int
		errorType string
	}{
		{http.StatusOK, ""}, {http.StatusGone, "GoneException"}, {http.StatusTooManyRequests, "LimitExceededException"},
		{http.StatusTooManyRequests, ""}, {http.StatusInternalServerError, "InternalServerErrorException"},
		{http.StatusServiceUnavailable, ""}, {http.StatusForbidden, "ForbiddenException"}, {http.StatusRequestEntityTooLarge, "PayloadTooLargeException"},
	}
	for _, tc := range cases {
		g := &gateway{status: tc.status, errorType: tc.errorType}
		srv := httptest.NewServer(g)
		ps := posters(t, srv.Client(), srv.URL+"/dev")
		classes := map[string]string{}
		for name, p := range ps {
			classes[name] = classify(p.Post(t.Context(), "TWegAcC4EowCHnA=", []byte("x")))
		}
		srv.Close()
		if classes["lean"] != classes["sdk"] {
			t.Errorf("%d %s: lean poster says %s, the SDK's client %s", tc.status, tc.errorType, classes["lean"], classes["sdk"])
		}
		if len(g.got) != 2 || g.got[0].path != g.got[1].path || g.got[0].body != g.got[1].body {
			t.Errorf("%d: requests differ: %+v", tc.status, g.got)
		}
	}
}

func classify(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, chat.ErrGone):
		return "gone"
	case errors.Is(err, chat.ErrThrottled):
		return "throttled"
	case errors.Is(err, chat.ErrUnavailable):
		return "unavailable"
	}
	return "permanent"
}
