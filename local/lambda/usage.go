package lambda

import (
	"bytes"
	"sync/atomic"
	"time"
)

// Usage is what a function's invocations would be billed for: requests and
// duration (Lambda rounds each invocation up to the next millisecond), and
// the init phase of each new instance, which Lambda bills as duration too.
// Counters only grow: a reader takes the difference of two readings.
type Usage struct {
	Invocations int64   `json:"invocations"`
	Errors      int64   `json:"errors"`     // invocations that returned an error (timeouts and crashes included)
	BilledMs    int64   `json:"billedMs"`   // Σ ⌈duration in ms⌉
	DurationMs  float64 `json:"durationMs"` // Σ duration, unrounded
	ColdStarts  int64   `json:"coldStarts"` // instances started
	InitMs      float64 `json:"initMs"`     // Σ start → first GET /invocation/next
	MemoryMB    int     `json:"memoryMb"`   // as configured (the last configuration)
	// LogEvents and LogBytes are the lines the instances printed (stdout
	// and stderr) and their bytes without the line ends: what CloudWatch
	// Logs would ingest from the function's own output. Lambda's platform
	// lines (START/REPORT) are not printed by the emulator, so not here.
	LogEvents int64 `json:"logEvents"`
	LogBytes  int64 `json:"logBytes"`
}

// usage holds a Function's counters.
type usage struct {
	invocations, errors, billedMs, durationMicros, coldStarts, initMicros atomic.Int64
	logEvents, logBytes                                                   atomic.Int64
}

// Write counts output: every '\n' ends an event.
func (u *usage) Write(p []byte) (int, error) {
	n := int64(bytes.Count(p, []byte{'\n'}))
	u.logEvents.Add(n)
	u.logBytes.Add(int64(len(p)) - n)
	return len(p), nil
}

func (u *usage) invoked(d time.Duration, err error) {
	u.invocations.Add(1)
	if err != nil {
		u.errors.Add(1)
	}
	u.durationMicros.Add(d.Microseconds())
	ms := d.Milliseconds()
	if d > time.Duration(ms)*time.Millisecond || ms == 0 {
		ms++
	}
	u.billedMs.Add(ms)
}

func (u *usage) initialized(d time.Duration) {
	u.coldStarts.Add(1)
	u.initMicros.Add(d.Microseconds())
}

// Usage reads the function's counters.
func (f *Function) Usage() Usage {
	cfg, _ := f.current()
	u := &f.usage
	return Usage{
		Invocations: u.invocations.Load(),
		Errors:      u.errors.Load(),
		BilledMs:    u.billedMs.Load(),
		DurationMs:  float64(u.durationMicros.Load()) / 1000,
		ColdStarts:  u.coldStarts.Load(),
		InitMs:      float64(u.initMicros.Load()) / 1000,
		MemoryMB:    cfg.MemoryMB,
		LogEvents:   u.logEvents.Load(),
		LogBytes:    u.logBytes.Load(),
	}
}
