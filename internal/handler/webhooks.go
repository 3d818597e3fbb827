package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	wevents "github.com/wschat/wschat/wire/events"
)

// Secrets reads a secret's value by ARN (*secrets.Cache).
type Secrets interface {
	Secret(ctx context.Context, id string) (string, error)
}

// Webhook is one HTTP endpoint that gets events, signed with its secret.
type Webhook struct {
	URL       string `json:"url"`
	SecretARN string `json:"secretArn"`
}

// WebhookConfig is the webhooks function's settings.
type WebhookConfig struct {
	Webhooks map[string]Webhook // by name
	Timeout  time.Duration      // one delivery
}

// DefaultWebhookTimeout bounds one delivery unless configured.
const DefaultWebhookTimeout = 10 * time.Second

// WebhookConfigFromEnv reads WSCHAT_WEBHOOKS and WSCHAT_WEBHOOK_TIMEOUT.
// A URL must be https, or http to a loopback address (the local emulator's
// receivers); every problem is reported.
func WebhookConfigFromEnv(getenv func(string) string) (WebhookConfig, error) {
	c := WebhookConfig{Webhooks: map[string]Webhook{}, Timeout: DefaultWebhookTimeout}
	var errs []error
	if raw := strings.TrimSpace(getenv(contract.EnvWebhooks)); raw != "" {
		if err := json.Unmarshal([]byte(raw), &c.Webhooks); err != nil {
			errs = append(errs, fmt.Errorf("%s: want a JSON object of name to {url, secretArn}: %w", contract.EnvWebhooks, err))
		}
	}
	names := make([]string, 0, len(c.Webhooks))
	for name := range c.Webhooks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		w := c.Webhooks[name]
		if err := checkWebhookURL(w.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s: webhook %s: %w", contract.EnvWebhooks, name, err))
		}
		if w.SecretARN == "" {
			errs = append(errs, fmt.Errorf("%s: webhook %s: no secretArn", contract.EnvWebhooks, name))
		}
	}
	if v := getenv(contract.EnvWebhookTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 5*time.Minute {
			errs = append(errs, fmt.Errorf("%s=%q: want a Go duration up to 5m, such as 10s", contract.EnvWebhookTimeout, v))
		}
		c.Timeout = d
	}
	if err := errors.Join(errs...); err != nil {
		return WebhookConfig{}, fmt.Errorf("webhooks config: %w", err)
	}
	return c, nil
}

// checkWebhookURL allows https anywhere and plain http to loopback only:
// events may carry user ids and text, and a signature proves the sender,
// not privacy on the way.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("url %q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
		return fmt.Errorf("url %q: plain http is allowed to a loopback address only; use https", raw)
	}
	return fmt.Errorf("url %q: want https", raw)
}

// WebhookEnvelope is what an EventBridge rule puts on the webhooks queue
// (its input transformer): the webhook's name and the whole event.
type WebhookEnvelope struct {
	Webhook string          `json:"webhook"`
	Event   json.RawMessage `json:"event"`
}

// Webhooks is the webhooks function's handler: each SQS message is one
// event for one webhook, POSTed to its URL with a Standard Webhooks
// signature (wire/events). A delivery that does not answer 2xx in time is
// reported in batchItemFailures, so SQS offers it again after the
// visibility timeout and, after the queue's maximum receives, moves it to
// the dead-letter queue (and its alarm).
type Webhooks struct {
	cfg     WebhookConfig
	secrets Secrets
	client  *http.Client
	log     *slog.Logger
	meter   Meter
	now     func() time.Time
}

// NewWebhooks returns the webhooks function's handler.
func NewWebhooks(cfg WebhookConfig, secrets Secrets, log *slog.Logger, meter Meter) *Webhooks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if meter == nil {
		meter = (*metrics.Emitter)(nil)
	}
	return &Webhooks{cfg: cfg, secrets: secrets, log: log, meter: meter, now: time.Now,
		client: &http.Client{Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, not a place to send the event again
		}}}
}

// Handle delivers the batch's events, one after another.
func (h *Webhooks) Handle(ctx context.Context, ev events.SQSEvent) (BatchResponse, error) {
	resp := BatchResponse{BatchItemFailures: []BatchItemFailure{}}
	delivered, failed := 0, 0
	for _, rec := range ev.Records {
		if err := h.deliver(ctx, rec.Body); err != nil {
			failed++
			h.log.LogAttrs(ctx, slog.LevelWarn, "webhook not delivered", slog.String("messageId", rec.MessageId),
				slog.String("receiveCount", rec.Attributes["ApproximateReceiveCount"]), logging.Err(err))
			resp.BatchItemFailures = append(resp.BatchItemFailures, BatchItemFailure{ItemIdentifier: rec.MessageId})
			continue
		}
		delivered++
	}
	h.meter.Record(ctx, metrics.Value{Name: contract.MetricWebhooksDelivered, Unit: metrics.Count, Value: float64(delivered)},
		metrics.Value{Name: contract.MetricWebhooksFailed, Unit: metrics.Count, Value: float64(failed)})
	return resp, nil
}

func (h *Webhooks) deliver(ctx context.Context, body string) error {
	var env WebhookEnvelope
	if err := json.Unmarshal([]byte(body), &env); err != nil || env.Webhook == "" || len(env.Event) == 0 {
		return fmt.Errorf("message is not a webhook envelope {webhook, event}: %v", err)
	}
	w, ok := h.cfg.Webhooks[env.Webhook]
	if !ok {
		return fmt.Errorf("no webhook %q is configured", env.Webhook)
	}
	secret, err := h.secrets.Secret(ctx, w.SecretARN)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", env.Webhook, err)
	}
	key, err := wevents.WebhookKey(secret)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", env.Webhook, err)
	}
	id := webhookID(env.Event)
	now := h.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(env.Event))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", env.Webhook, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wschat-webhooks/1")
	req.Header.Set(wevents.HeaderWebhookID, id)
	req.Header.Set(wevents.HeaderWebhookTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(wevents.HeaderWebhookSignature, wevents.Sign(key, id, now, env.Event))
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", env.Webhook, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64*1024))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: %s answered %d", env.Webhook, w.URL, resp.StatusCode)
	}
	return nil
}

// webhookID is the event's detail eventId (the same on every delivery of
// one change), else its EventBridge id.
func webhookID(event json.RawMessage) string {
	var ev struct {
		ID     string `json:"id"`
		Detail struct {
			EventID string `json:"eventId"`
		} `json:"detail"`
	}
	_ = json.Unmarshal(event, &ev)
	if ev.Detail.EventID != "" {
		return ev.Detail.EventID
	}
	return ev.ID
}
