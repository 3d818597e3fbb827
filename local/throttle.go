package main

import (
	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/gateway"
)

// stageThrottle is the gateway's throttling for --stage-throttle: the
// template's stage settings, or nil for off.
func stageThrottle(mode string, st template.StageThrottle) *gateway.Throttle {
	if mode == "off" || (st.Default == nil && len(st.Routes) == 0) {
		return nil
	}
	t := &gateway.Throttle{Routes: map[string]gateway.Limit{}}
	if d := st.Default; d != nil {
		t.Default = &gateway.Limit{Rate: d.Rate, Burst: d.Burst}
	}
	for k, r := range st.Routes {
		t.Routes[k] = gateway.Limit{Rate: r.Rate, Burst: r.Burst}
	}
	return t
}

// accountLimit is the gateway's account-wide @connections limit for
// --account-rate and --account-burst; rate 0 means none.
func accountLimit(rate float64, burst int) *gateway.Limit {
	if rate <= 0 {
		return nil
	}
	return &gateway.Limit{Rate: rate, Burst: burst}
}
