package compose

import (
	"errors"
	"io"
	"testing"

	"github.com/wschat/wschat/internal/fanout"
)

// TestNewPusher covers every setting the runtime functions read; NewBase's
// are a subset.
func TestNewPusher(t *testing.T) {
	full := map[string]string{
		"WSCHAT_TABLE_NAME":     "wschat-dev",
		"WSCHAT_CALLBACK_URL":   "https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
		"WSCHAT_LOG_LEVEL":      "debug",
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "secret",
	}
	tests := []struct {
		name    string
		unset   string
		set     map[string]string
		wantErr bool
	}{
		{name: "complete"},
		{name: "no table", unset: "WSCHAT_TABLE_NAME", wantErr: true},
		{name: "no region", unset: "AWS_REGION", wantErr: true},
		{name: "no credentials", unset: "AWS_SECRET_ACCESS_KEY", wantErr: true},
		{name: "bad log level", set: map[string]string{"WSCHAT_LOG_LEVEL": "loud"}, wantErr: true},
		{name: "no callback URL", unset: "WSCHAT_CALLBACK_URL", wantErr: true},
		{name: "bad workers", set: map[string]string{"WSCHAT_FANOUT_WORKERS": "lots"}, wantErr: true},
		{name: "bad budget", set: map[string]string{"WSCHAT_SEND_BUDGET": "-5"}, wantErr: true},
		{name: "bad retention", set: map[string]string{"WSCHAT_HISTORY_RETENTION": "forever"}, wantErr: true},
		{name: "bad rate", set: map[string]string{"WSCHAT_RATE_PER_SECOND": "-1"}, wantErr: true},
		{name: "queue", set: map[string]string{"WSCHAT_FANOUT_QUEUE_URL": "https://sqs/q", "WSCHAT_FANOUT_THRESHOLD": "500"}},
		{name: "queue without threshold", set: map[string]string{"WSCHAT_FANOUT_QUEUE_URL": "https://sqs/q"}, wantErr: true},
		{name: "threshold above budget", set: map[string]string{"WSCHAT_FANOUT_QUEUE_URL": "https://sqs/q", "WSCHAT_FANOUT_THRESHOLD": "5000", "WSCHAT_SEND_BUDGET": "1000"}, wantErr: true},
	}
	for _, tt := range tests {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		delete(env, tt.unset)
		for k, v := range tt.set {
			env[k] = v
		}
		p, err := NewPusher(func(k string) string { return env[k] }, io.Discard)
		if (err != nil) != tt.wantErr || (err == nil && (p == nil || p.Fanout == nil || p.Store == nil)) {
			t.Errorf("%s: NewPusher = %v, %v; want error %v", tt.name, p, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		_, spread := p.Broadcaster.(*fanout.Spreader)
		if want := tt.set["WSCHAT_FANOUT_QUEUE_URL"] != ""; spread != want {
			t.Errorf("%s: Broadcaster is %T, want a Spreader: %v", tt.name, p.Broadcaster, want)
		}
	}
}

// The task queue's sends retry like DynamoDB's calls: no client-side quota,
// bounded attempts.
func TestSQSRetryerHasNoQuota(t *testing.T) {
	r := quotaFreeRetryer(SQSMaxAttempts, SQSMaxBackoff)
	if r.MaxAttempts() != SQSMaxAttempts {
		t.Errorf("MaxAttempts = %d, want %d", r.MaxAttempts(), SQSMaxAttempts)
	}
	for range 1000 { // far beyond the standard quota of 500 tokens at 5 each
		if _, err := r.GetRetryToken(t.Context(), errors.New("throttled")); err != nil {
			t.Fatalf("GetRetryToken: %v (a quota ran dry)", err)
		}
	}
}
