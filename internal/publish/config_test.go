package publish

import (
	"testing"
	"time"

	"github.com/wschat/wschat/internal/contract"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		env     string
		want    int // names
		wantErr bool
	}{
		{"", 0, false},
		{`{"arn:aws:iam::1:role/Orders":"Orders"}`, 1, false},
		{`{"Orders":"Orders"}`, 0, true},
		{`{"arn:aws:iam::1:role/Orders":" "}`, 0, true},
		{`[1]`, 0, true},
	}
	for _, tt := range tests {
		cfg, err := ConfigFromEnv(func(k string) string {
			if k == contract.EnvPublishNames {
				return tt.env
			}
			return ""
		}, time.Hour, 5)
		if (err != nil) != tt.wantErr || len(cfg.Names) != tt.want {
			t.Errorf("ConfigFromEnv(%s) = %v, %v; want %d names, error %v", tt.env, cfg.Names, err, tt.want, tt.wantErr)
		}
	}
}

func TestConfigNoticeRecords(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "false": false} {
		cfg, err := ConfigFromEnv(func(k string) string {
			if k == contract.EnvNoticeRecords {
				return v
			}
			return ""
		}, time.Hour, 5)
		if err != nil || cfg.RecordNotices != want {
			t.Errorf("%s=%q: %v, %v", contract.EnvNoticeRecords, v, cfg.RecordNotices, err)
		}
	}
	if _, err := ConfigFromEnv(func(k string) string { return map[string]string{contract.EnvNoticeRecords: "sure"}[k] }, time.Hour, 5); err == nil {
		t.Error("a bad value was accepted")
	}
}

func TestPrincipalOf(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:sts::111122223333:assumed-role/OrderService/i-0abc", "arn:aws:iam::111122223333:role/OrderService"},
		{"arn:aws:iam::111122223333:user/ci", "arn:aws:iam::111122223333:user/ci"},
		{"arn:aws-cn:sts::1:assumed-role/R/s", "arn:aws-cn:iam::1:role/R"},
		{"nonsense", ""},
	}
	for _, tt := range tests {
		if got := principalOf(tt.arn); got != tt.want {
			t.Errorf("principalOf(%q) = %q, want %q", tt.arn, got, tt.want)
		}
	}
}
