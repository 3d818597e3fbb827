package wschatcdk_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/wire/events"
	"github.com/wschat/wschat/wschatcdk"
)

// TestEventsPropsDefaults: &EventsProps{} and a hook by ARN are valid, and
// WithDefaults fills what docs/events.md says (source, batch, retries, DLQ
// retention, every detail-type per webhook, the hook's 300 ms).
func TestEventsPropsDefaults(t *testing.T) {
	p := wschatcdk.ChatProps{Name: "t",
		Events:     &wschatcdk.EventsProps{Webhooks: []wschatcdk.WebhookProps{{Name: "crm", URL: "https://crm.example.com/h"}}},
		BeforeSend: &wschatcdk.BeforeSendProps{FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:word-filter"},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	d := p.WithDefaults()
	e := d.Events
	if e.Source != events.DefaultSource || e.BatchSize != 100 || e.MaxRetries != 10 || e.DLQRetention != 14*24*time.Hour {
		t.Errorf("events defaults %+v", *e)
	}
	if !slices.Equal(e.Webhooks[0].DetailTypes, events.Types) {
		t.Errorf("webhook detail-types %v, want every one", e.Webhooks[0].DetailTypes)
	}
	if d.BeforeSend.Timeout != 300*time.Millisecond || d.BeforeSend.FailClosed {
		t.Errorf("hook defaults %+v, want 300ms, fail open", *d.BeforeSend)
	}
	if p.Events.BatchSize != 0 || p.Events.Webhooks[0].DetailTypes != nil {
		t.Error("WithDefaults changed the caller's props")
	}
}

// TestBadEventsPropsNameEveryProp: each bad integrations prop is reported,
// named, in one error.
func TestBadEventsPropsNameEveryProp(t *testing.T) {
	p := wschatcdk.ChatProps{Name: "t",
		Events: &wschatcdk.EventsProps{BusARN: "arn:aws:sns:eu-west-1:123456789012:x", Source: "aws.chat", BatchSize: 20000, MaxRetries: -1,
			DLQRetention: 30 * 24 * time.Hour,
			Webhooks: []wschatcdk.WebhookProps{
				{Name: "crm", URL: "http://crm.example.com/h", DetailTypes: []string{"message.sent.v1"}},
				{Name: "crm", URL: "https://x.example.com", SecretARN: "not-an-arn"},
				{Name: "bad name", URL: "ftp://x"},
			}},
		BeforeSend: &wschatcdk.BeforeSendProps{Timeout: time.Minute},
	}
	err := p.Validate()
	var perr *wschatcdk.PropsError
	if !errors.As(err, &perr) {
		t.Fatalf("Validate() = %v, want a *PropsError", err)
	}
	for _, want := range []string{"Events.BusARN", "Events.Source", "Events.BatchSize", "Events.MaxRetries", "Events.DLQRetention",
		`Webhooks[0] ("crm"): URL`, `Webhooks[0] ("crm"): DetailTypes`, `Webhooks[1] ("crm"): Name: used twice`, `Webhooks[1] ("crm"): SecretARN`,
		`Webhooks[2] ("bad name"): Name`, `Webhooks[2] ("bad name"): URL`, "BeforeSend: set exactly one", "BeforeSend.Timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s:\n%v", want, err)
		}
	}
	if len(perr.Errs) != 13 {
		t.Errorf("%d problems reported, want 13:\n%v", len(perr.Errs), err)
	}
	ok := wschatcdk.ChatProps{Name: "t", Events: &wschatcdk.EventsProps{Webhooks: []wschatcdk.WebhookProps{{Name: "local", URL: "http://127.0.0.1:8080/h"}}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a loopback http webhook: %v", err)
	}
}
