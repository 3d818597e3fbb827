package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/handler"
	wevents "github.com/wschat/wschat/wire/events"
)

type fixedSecrets map[string]string

func (s fixedSecrets) Secret(_ context.Context, id string) (string, error) {
	v, ok := s[id]
	if !ok {
		return "", fmt.Errorf("no secret %s", id)
	}
	return v, nil
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is a webhook endpoint that verifies every request with
// wire/events.Verify and answers status.
type receiver struct {
	mu       sync.Mutex
	verified []string // webhook-id of each verified request
	refused  int
	status   int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := wevents.Verify(testSecret, req.Header, body, time.Now(), 0); err != nil || req.Header.Get("Content-Type") != "application/json" {
		r.refused++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if _, _, err := wevents.Decode(body); err != nil {
		r.refused++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.verified = append(r.verified, req.Header.Get(wevents.HeaderWebhookID))
	w.WriteHeader(r.status)
}

func envelope(webhook, eventID string) string {
	ev := fmt.Sprintf(`{"version":"0","id":"eb-%s","detail-type":"channel.occupied.v1","source":"wschat","account":"1","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"eventId":%q,"channel":"general","at":"2026-01-01T00:00:00Z"}}`, eventID, eventID)
	return fmt.Sprintf(`{"webhook":%q,"event":%s}`, webhook, ev)
}

// TestWebhooksSignAndReportFailures: deliveries carry a Standard Webhooks
// signature the receiver verifies, with the event's eventId as
// webhook-id; a non-2xx answer, an unknown webhook and a malformed message
// are reported for a retry, the others are not.
func TestWebhooksSignAndReportFailures(t *testing.T) {
	ok, down := &receiver{status: 204}, &receiver{status: 503}
	okSrv, downSrv := httptest.NewServer(ok), httptest.NewServer(down)
	defer okSrv.Close()
	defer downSrv.Close()
	cfg, err := handler.WebhookConfigFromEnv(func(k string) string {
		if k == contract.EnvWebhooks {
			return fmt.Sprintf(`{"orders":{"url":%q,"secretArn":"arn:s:orders"},"search":{"url":%q,"secretArn":"arn:s:orders"}}`, okSrv.URL, downSrv.URL)
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	h := handler.NewWebhooks(cfg, fixedSecrets{"arn:s:orders": testSecret}, nil, nil)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: envelope("orders", "e1")},
		{MessageId: "m2", Body: envelope("search", "e2")},
		{MessageId: "m3", Body: envelope("unknown", "e3")},
		{MessageId: "m4", Body: `not json`},
		{MessageId: "m5", Body: envelope("orders", "e5")},
	}}
	resp, err := h.Handle(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if strings.Join(failed, ",") != "m2,m3,m4" {
		t.Errorf("failed %v, want m2,m3,m4", failed)
	}
	if strings.Join(ok.verified, ",") != "e1,e5" || ok.refused != 0 || len(down.verified) != 1 {
		t.Errorf("receiver verified %v (refused %d), the failing one %v", ok.verified, ok.refused, down.verified)
	}
	// A receiver with another secret refuses: the signature is real.
	other := handler.NewWebhooks(cfg, fixedSecrets{"arn:s:orders": "whsec_" + strings.Repeat("A", 32)}, nil, nil)
	resp, _ = other.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m6", Body: envelope("orders", "e6")}}})
	if len(resp.BatchItemFailures) != 1 || ok.refused != 1 {
		t.Errorf("a wrong secret: response %+v, refused %d", resp, ok.refused)
	}
}

func TestWebhookConfigRefusesPlainHTTPElsewhere(t *testing.T) {
	for _, tt := range []struct {
		raw string
		ok  bool
	}{
		{`{"a":{"url":"https://hooks.example.com/x","secretArn":"arn:s"}}`, true},
		{`{"a":{"url":"http://127.0.0.1:8080/x","secretArn":"arn:s"}}`, true},
		{`{"a":{"url":"http://localhost/x","secretArn":"arn:s"}}`, true},
		{`{"a":{"url":"http://hooks.example.com/x","secretArn":"arn:s"}}`, false},
		{`{"a":{"url":"ftp://x/y","secretArn":"arn:s"}}`, false},
		{`{"a":{"url":"https://x/y"}}`, false},
		{`[1]`, false},
	} {
		_, err := handler.WebhookConfigFromEnv(func(k string) string {
			if k == contract.EnvWebhooks {
				return tt.raw
			}
			return ""
		})
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.raw, err, tt.ok)
		}
	}
	var e handler.WebhookEnvelope
	if err := json.Unmarshal([]byte(envelope("a", "b")), &e); err != nil || e.Webhook != "a" {
		t.Errorf("envelope: %+v %v", e, err)
	}
}
