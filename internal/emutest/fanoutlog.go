package emutest

import (
	"encoding/json"
	"strings"
)

// FanoutLog is the line internal/fanout logs after each broadcast, as a
// handler instance printed it through the emulator ("[chat#2] {...}").
// The counts are its EMF metric values (a count of 0 is left out of the
// line, and reads as 0 here).
type FanoutLog struct {
	Function   string  `json:"-"` // the instance label, e.g. "chat#2"
	Channel    string  `json:"channel"`
	Members    int     `json:"members"`
	Delivered  int     `json:"Deliveries"`
	Gone       int     `json:"Gone"`
	Failed     int     `json:"FanoutFailed"`
	Skipped    int     `json:"skipped"`
	Throttled  int     `json:"FanoutThrottled"` // post attempts answered 429
	DurationMs float64 `json:"FanoutDurationMs"`
	RouteKey   string  `json:"routeKey"`
	Error      string  `json:"error"`
}

// ParseFanoutLog parses one output line; false if it is not a fan-out line.
func ParseFanoutLog(line string) (FanoutLog, bool) {
	if !strings.Contains(line, `"message":"fanout"`) {
		return FanoutLog{}, false
	}
	label, body, ok := strings.Cut(line, "] ")
	if !ok || !strings.HasPrefix(label, "[") {
		return FanoutLog{}, false
	}
	var l FanoutLog
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		return FanoutLog{}, false
	}
	l.Function = strings.TrimPrefix(label, "[")
	return l, true
}

// WatchFanouts calls fn with each later fan-out line until stop is called.
func (e *Emulator) WatchFanouts(fn func(FanoutLog)) (stop func()) {
	return e.Watch(func(line string) {
		if l, ok := ParseFanoutLog(line); ok {
			fn(l)
		}
	})
}
