package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/gateway"
)

func TestThrottleAndVanishFlags(t *testing.T) {
	getenv := func(string) string { return "" }
	tests := []struct {
		args      []string
		wantErr   string
		wantMode  string
		wantGrace time.Duration
	}{
		{nil, "", "template", 0},
		{[]string{"--stage-throttle", "off", "--vanish-grace", "90s"}, "", "off", 90 * time.Second},
		{[]string{"--stage-throttle", "maybe"}, "want template or off", "", 0},
		{[]string{"--vanish-grace", "-1s"}, "must not be negative", "", 0},
		{[]string{"--channel-rate", "slow"}, "want template or off", "", 0},
		{[]string{"--allow-origin", "localhost:5173"}, "want an origin such as", "", 0},
	}
	for _, tt := range tests {
		c, err := parseFlags(tt.args, getenv, io.Discard)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if c.stageThrottle != tt.wantMode || c.vanishGrace != tt.wantGrace {
			t.Errorf("%v: mode %q grace %v, want %q %v", tt.args, c.stageThrottle, c.vanishGrace, tt.wantMode, tt.wantGrace)
		}
	}
}

func TestStageThrottleMode(t *testing.T) {
	st := template.StageThrottle{
		Default: &template.RouteThrottle{Rate: 50, Burst: 100},
		Routes:  map[string]template.RouteThrottle{"send": {Rate: 1, Burst: 2}},
	}
	want := &gateway.Throttle{Default: &gateway.Limit{Rate: 50, Burst: 100}, Routes: map[string]gateway.Limit{"send": {Rate: 1, Burst: 2}}}
	if got := stageThrottle("template", st); !reflect.DeepEqual(got, want) {
		t.Errorf("template: %+v, want %+v", got, want)
	}
	if got := stageThrottle("off", st); got != nil {
		t.Errorf("off: %+v, want nil", got)
	}
	if got := stageThrottle("template", template.StageThrottle{}); got != nil {
		t.Errorf("template without settings: %+v, want nil", got)
	}
}

// TestGuardFlags: --allow-host and --allow-origin take comma-separated,
// repeated values; --channel-rate off is accepted.
func TestGuardFlags(t *testing.T) {
	c, err := parseFlags([]string{"--allow-host", "chat.local:8080, proxy:9000", "--allow-host", "x:1",
		"--allow-origin", "http://localhost:5173,https://app.example", "--channel-rate", "off"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"chat.local:8080", "proxy:9000", "x:1"}; !reflect.DeepEqual(c.allowHosts, want) {
		t.Errorf("allow hosts %v, want %v", c.allowHosts, want)
	}
	if want := []string{"http://localhost:5173", "https://app.example"}; !reflect.DeepEqual(c.allowOrigins, want) || c.channelRate != "off" {
		t.Errorf("allow origins %v, channel rate %q; want %v, off", c.allowOrigins, c.channelRate, want)
	}
}
