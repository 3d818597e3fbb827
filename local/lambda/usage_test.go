package lambda

import (
	"testing"
	"time"
)

// TestUsageCountsInvocationsDurationAndOutput invokes a function three
// times in one instance: one cold start, three requests, a billed duration
// of at least the 30 ms one of them slept (rounded up per invocation), the
// two lines it printed, and one error.
func TestUsageCountsInvocationsDurationAndOutput(t *testing.T) {
	f, _ := newTestFunction(t, Config{MemoryMB: 256, MaxInstances: 1})
	if _, err := invoke(t, f, `{"print":"one line"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := invoke(t, f, `{"sleep":"30ms","print":"a second, longer line"}`); err != nil {
		t.Fatal(err)
	}
	// The output pipe is copied apart from the answer: wait for it.
	u := f.Usage()
	for deadline := time.Now().Add(5 * time.Second); u.LogEvents < 2 && time.Now().Before(deadline); u = f.Usage() {
		time.Sleep(10 * time.Millisecond)
	}
	if u.LogEvents != 2 || u.LogBytes != int64(len("one line")+len("a second, longer line")) {
		t.Errorf("log %d events, %d bytes; want 2 and %d", u.LogEvents, u.LogBytes, len("one line")+len("a second, longer line"))
	}
	// aws-lambda-go logs a handler's error itself (a line that may land
	// after the invocation's answer): output is not checked past here.
	if _, err := invoke(t, f, `{"error":"no"}`); err == nil {
		t.Fatal("want the function's error")
	}
	u = f.Usage()
	if u.Invocations != 3 || u.Errors != 1 || u.ColdStarts != 1 || u.MemoryMB != 256 {
		t.Errorf("usage = %+v, want 3 invocations, 1 error, 1 cold start, 256 MB", u)
	}
	if u.BilledMs < 30+2 || float64(u.BilledMs) < u.DurationMs || float64(u.BilledMs) > u.DurationMs+3 {
		t.Errorf("billed %d ms for %.2f ms: want each invocation rounded up to the next ms, and the 30 ms sleep in it", u.BilledMs, u.DurationMs)
	}
	if u.InitMs <= 0 {
		t.Errorf("init %.2f ms, want the cold start's init time", u.InitMs)
	}
}
