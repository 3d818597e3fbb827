package connections_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/connections"
)

type request struct {
	method, path, auth string
	body               string
}

// gateway is a stand-in for the @connections endpoint of stage "dev".
type gateway struct {
	status    int
	errorType string
	mu        sync.Mutex
	got       []request
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.got = append(g.got, request{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), string(body)})
	g.mu.Unlock()
	if g.errorType != "" {
		w.Header().Set("x-amzn-ErrorType", g.errorType)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(g.status)
		io.WriteString(w, `{"message":"nope"}`)
		return
	}
	w.WriteHeader(g.status)
}

func newClient(url string) *connections.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
	}
	c, err := connections.New(cfg, url+"/dev", connections.Options{})
	if err != nil {
		panic(err)
	}
	return c
}

func TestPostSendsOneSignedRequestToTheStage(t *testing.T) {
	g := &gateway{status: http.StatusOK}
	srv := httptest.NewServer(g)
	defer srv.Close()

	if err := newClient(srv.URL).Post(t.Context(), "TWegAcC4EowCHnA=", []byte(`{"type":"pong"}`)); err != nil {
		t.Fatalf("Post: %v", err)
	}
	if len(g.got) != 1 {
		t.Fatalf("gateway got %d requests, want 1", len(g.got))
	}
	got := g.got[0]
	if got.method != http.MethodPost || got.path != "/dev/@connections/TWegAcC4EowCHnA%3D" {
		t.Errorf("request = %s %s, want POST /dev/@connections/TWegAcC4EowCHnA%%3D", got.method, got.path)
	}
	if got.body != `{"type":"pong"}` {
		t.Errorf("body = %q, want the frame", got.body)
	}
	if !strings.HasPrefix(got.auth, "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/") || !strings.Contains(got.auth, "/execute-api/aws4_request") {
		t.Errorf("Authorization = %q, want SigV4 for execute-api", got.auth)
	}
}

func TestPostTranslatesErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		errorType string
		want      error // nil: neither ErrGone nor ErrUnavailable
		attempts  int
	}{
		{"gone", http.StatusGone, "GoneException", chat.ErrGone, 1},
		{"throttled", http.StatusTooManyRequests, "LimitExceededException", chat.ErrThrottled, 1},
		{"throttled without type", http.StatusTooManyRequests, "", chat.ErrThrottled, 1},
		{"throttled as the emulator says it", http.StatusTooManyRequests, "TooManyRequestsException", chat.ErrThrottled, 1},
		{"server error", http.StatusInternalServerError, "InternalServerError", chat.ErrUnavailable, 1},
		{"unavailable", http.StatusServiceUnavailable, "", chat.ErrUnavailable, 1},
		{"forbidden", http.StatusForbidden, "ForbiddenException", nil, 1},
		{"too large", http.StatusRequestEntityTooLarge, "PayloadTooLargeException", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gateway{status: tt.status, errorType: tt.errorType}
			srv := httptest.NewServer(g)
			defer srv.Close()
			err := newClient(srv.URL).Post(t.Context(), "c1", []byte("x"))
			if err == nil {
				t.Fatal("Post: nil error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Post error = %v, want %v", err, tt.want)
			}
			if tt.want != chat.ErrThrottled && errors.Is(err, chat.ErrThrottled) {
				t.Errorf("Post error = %v: a %d is not throttling", err, tt.status)
			}
			if tt.want == nil && (errors.Is(err, chat.ErrGone) || errors.Is(err, chat.ErrUnavailable)) {
				t.Errorf("Post error = %v, want a permanent error", err)
			}
			if len(g.got) != tt.attempts {
				t.Errorf("gateway got %d requests, want %d (the SDK must not retry on its own)", len(g.got), tt.attempts)
			}
		})
	}
}

func TestPostUnreachableIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	err := newClient(url).Post(t.Context(), "c1", []byte("x"))
	if !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("Post to a closed port error = %v, want ErrUnavailable", err)
	}
}

func TestPostErrorsNameStatusTypeAndMessage(t *testing.T) {
	g := &gateway{status: http.StatusForbidden, errorType: "ForbiddenException:http://internal.amazon.com/coral/"}
	srv := httptest.NewServer(g)
	defer srv.Close()
	err := newClient(srv.URL).Post(t.Context(), "c1", []byte("x"))
	var se *connections.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("Post error = %v (%T), want a *connections.StatusError", err, err)
	}
	if se.Status != http.StatusForbidden || se.Type != "ForbiddenException" || se.Message != "nope" {
		t.Errorf("StatusError = %+v, want 403 ForbiddenException \"nope\" (the type without its suffix)", se)
	}
	if got, want := err.Error(), "post to connection: 403 ForbiddenException: nope"; got != want {
		t.Errorf("error text = %q, want %q", got, want)
	}
}

func TestPostSignsTheSessionTokenAndPayload(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("ASIAKEY", "secret", "session-token")}
	c, err := connections.New(cfg, srv.URL+"/prod/", connections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Post(t.Context(), "abc=", []byte(`{"type":"pong"}`)); err != nil {
		t.Fatal(err)
	}
	auth := got.Get("Authorization")
	for _, want := range []string{"Credential=ASIAKEY/", "/eu-west-1/execute-api/aws4_request", "x-amz-security-token"} {
		if !strings.Contains(auth, want) {
			t.Errorf("Authorization %q lacks %q", auth, want)
		}
	}
	if got.Get("X-Amz-Security-Token") != "session-token" || got.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("headers = %v, want the session token and an octet-stream body", got)
	}
}

func TestPostCancelledIsNotRetryable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := newClient(srv.URL).Post(ctx, "c1", []byte("x"))
	if err == nil || errors.Is(err, chat.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Post with a cancelled context = %v, want context.Canceled and not ErrUnavailable", err)
	}
}

func TestNewRefusesARelativeURL(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
	if _, err := connections.New(cfg, "/dev", connections.Options{}); err == nil {
		t.Error("New(\"/dev\") = nil error, want the URL refused")
	}
	if _, err := connections.New(aws.Config{Region: "us-east-1"}, "https://x/dev", connections.Options{}); err == nil {
		t.Error("New without credentials = nil error")
	}
}
