package emutest

import (
	"encoding/json"
	"strings"
)

// FanoutLog is the line internal/fanout logs after each broadcast, as a
// handler instance printed it through the emulator ("[chat#2] {...}").
type FanoutLog struct {
	Function   string `json:"-"` // the instance label, e.g. "chat#2"
	Channel    string `json:"channel"`
	Members    int    `json:"members"`
	Delivered  int    `json:"delivered"`
	Gone       int    `json:"gone"`
	Failed     int    `json:"failed"`
	Skipped    int    `json:"skipped"`
	Throttled  int    `json:"throttled"` // post attempts answered 429
	DurationMs int64  `json:"durationMs"`
	Workers    int    `json:"workers"`
	RouteKey   string `json:"routeKey"`
	Error      string `json:"error"`
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
