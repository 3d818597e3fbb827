package hook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/wire/events"
)

func TestCheck(t *testing.T) {
	var got *http.Request
	var body []byte
	answer := func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"verdict":"replace","text":"***"}`) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, nil
		body, _ = io.ReadAll(r.Body)
		answer(w)
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "token")}
	c := New(cfg, "arn:aws:lambda:eu-west-1:111122223333:function:filter", srv.URL)
	in := events.BeforeSend{Version: "1", Action: "send", Channel: "general", ClientID: "c1", Text: "darn", User: events.User{UserID: "u1", UserName: "Ann"}, ConnectionID: "k1"}
	v, err := c.Check(t.Context(), in)
	if err != nil || v.Verdict != events.Replace || v.Text != "***" {
		t.Fatalf("Check = %+v, %v", v, err)
	}
	if got.Method != http.MethodPost || got.URL.EscapedPath() != "/2015-03-31/functions/arn:aws:lambda:eu-west-1:111122223333:function:filter/invocations" ||
		got.Header.Get("X-Amz-Invocation-Type") != "RequestResponse" || got.Header.Get("X-Amz-Security-Token") != "token" ||
		!strings.HasPrefix(got.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(got.Header.Get("Authorization"), "/eu-west-1/lambda/aws4_request") {
		t.Errorf("request %s %s %v", got.Method, got.URL, got.Header)
	}
	var sent events.BeforeSend
	if err := json.Unmarshal(body, &sent); err != nil || sent != in {
		t.Errorf("body %s", body)
	}
	for name, tt := range map[string]struct {
		answer      func(http.ResponseWriter)
		unavailable bool
	}{
		"function error": {func(w http.ResponseWriter) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = io.WriteString(w, `{"errorMessage":"boom"}`)
		}, false},
		"throttled": {func(w http.ResponseWriter) {
			w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
			w.WriteHeader(http.StatusTooManyRequests)
		}, true},
		"service fault": {func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }, true},
		"access denied": {func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) }, false},
		"not a verdict": {func(w http.ResponseWriter) { _, _ = io.WriteString(w, `"allow"`) }, false},
		"a huge answer": {func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"verdict":"allow","reason":"`+strings.Repeat("x", maxResponse)+`"}`)
		}, false},
	} {
		answer = tt.answer
		_, err := c.Check(t.Context(), in)
		if err == nil || errors.Is(err, chat.ErrUnavailable) != tt.unavailable {
			t.Errorf("%s: %v (unavailable %v)", name, err, tt.unavailable)
		}
	}
	answer = func(w http.ResponseWriter) { time.Sleep(300 * time.Millisecond) }
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Check(ctx, in); err == nil || time.Since(start) > 250*time.Millisecond {
		t.Errorf("a late hook: %v after %s, want an error at the budget", err, time.Since(start))
	}
}
