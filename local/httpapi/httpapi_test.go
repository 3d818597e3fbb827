package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wschat/wschat/internal/sigv4"
)

// recorder is a hand-written integration: it keeps the last event and
// answers with a fixed result.
type recorder struct {
	last   events.APIGatewayV2HTTPRequest
	calls  int
	result string
}

func (r *recorder) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	r.calls++
	_ = json.Unmarshal(payload, &r.last)
	return []byte(r.result), nil
}

func newServer(rec *recorder, rate float64, burst int) *Server {
	return New(Config{
		APIID: "abc", Stage: "dev", Region: "us-east-1", AccountID: "000000000000", Prefix: "/@http/dev",
		Routes: []*Route{
			{Key: "POST /channels/{channel}/messages", Method: "POST", Path: "/channels/{channel}/messages", IAM: true, Integration: rec},
			{Key: "GET /open", Method: "GET", Path: "/open", Integration: rec},
		},
		Rate: rate, Burst: burst,
		Verifier:  &sigv4.Verifier{Creds: sigv4.Credentials{AccessKeyID: "local", SecretAccessKey: "local"}, Region: "us-east-1", Service: "execute-api"},
		CallerARN: "arn:aws:iam::000000000000:user/wschat-local",
	})
}

func sign(t *testing.T, r *http.Request, body []byte) {
	t.Helper()
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local"},
		r, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestServer(t *testing.T) {
	ok := `{"statusCode":201,"headers":{"Content-Type":"application/json"},"body":"{\"seq\":1}"}`
	big := bytes.Repeat([]byte("x"), MaxBodyBytes+1)
	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		signed     bool
		wantStatus int
		wantCalls  int
	}{
		{"signed publish", "POST", "/@http/dev/channels/general/messages", []byte(`{"text":"hi"}`), true, 201, 1},
		{"escaped parameter", "POST", "/@http/dev/channels/gen%20eral/messages", []byte(`{}`), true, 201, 1},
		{"unsigned", "POST", "/@http/dev/channels/general/messages", []byte(`{}`), false, 403, 0},
		{"unknown path", "POST", "/@http/dev/channels/general", []byte(`{}`), true, 404, 0},
		{"wrong method", "GET", "/@http/dev/channels/general/messages", nil, true, 404, 0},
		{"empty parameter", "POST", "/@http/dev/channels//messages", []byte(`{}`), true, 404, 0},
		{"body over 10 MB", "POST", "/@http/dev/channels/general/messages", big, true, 413, 0},
		{"route without authorization", "GET", "/@http/dev/open", nil, false, 201, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{result: ok}
			s := newServer(rec, 0, 0)
			r := httptest.NewRequest(tt.method, "http://127.0.0.1:3001"+tt.path, bytes.NewReader(tt.body))
			if tt.signed {
				sign(t, r, tt.body)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.wantStatus || rec.calls != tt.wantCalls {
				t.Fatalf("got %d with %d invocations (%s), want %d with %d", w.Code, rec.calls, w.Body.String(), tt.wantStatus, tt.wantCalls)
			}
			if w.Code >= 400 && !strings.HasPrefix(w.Body.String(), `{"message":`) {
				t.Errorf("error body %q, want API Gateway's {\"message\":…}", w.Body.String())
			}
		})
	}
}

func TestEventFields(t *testing.T) {
	rec := &recorder{result: `{"plain":true}`}
	s := newServer(rec, 0, 0)
	body := []byte(`{"text":"hi"}`)
	r := httptest.NewRequest("POST", "http://127.0.0.1:3001/@http/dev/channels/general/messages?x=1", bytes.NewReader(body))
	sign(t, r, body)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	ev := rec.last
	checks := []struct{ name, got, want string }{
		{"version", ev.Version, "2.0"},
		{"routeKey", ev.RouteKey, "POST /channels/{channel}/messages"},
		{"rawPath", ev.RawPath, "/dev/channels/general/messages"},
		{"rawQueryString", ev.RawQueryString, "x=1"},
		{"channel", ev.PathParameters["channel"], "general"},
		{"body", ev.Body, `{"text":"hi"}`},
		{"stage", ev.RequestContext.Stage, "dev"},
		{"method", ev.RequestContext.HTTP.Method, "POST"},
		{"userArn", ev.RequestContext.Authorizer.IAM.UserARN, "arn:aws:iam::000000000000:user/wschat-local"},
		{"answer: a result without statusCode is the 200 body", w.Body.String(), `{"plain":true}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestThrottle(t *testing.T) {
	rec := &recorder{result: `{"statusCode":200,"body":"{}"}`}
	s := newServer(rec, 0.001, 3) // no refill within the test
	var got []int
	for range 5 {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1:3001/@http/dev/open", nil))
		got = append(got, w.Code)
	}
	want := []int{200, 200, 200, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v (burst 3)", got, want)
		}
	}
	if rec.calls != 3 {
		t.Errorf("%d invocations, want 3: a throttled request never reaches the function", rec.calls)
	}
}
