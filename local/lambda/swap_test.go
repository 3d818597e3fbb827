package lambda

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestSwapFinishesInFlightOnTheOldConfiguration: an invocation that is
// running when Swap happens finishes on the old instance (old environment);
// the next one starts an instance of the new configuration; the old
// instances are stopped.
func TestSwapFinishesInFlightOnTheOldConfiguration(t *testing.T) {
	f, _ := newTestFunction(t, Config{Env: map[string]string{"GEN": "old"}})
	warm, err := invoke(t, f, `{"env":"GEN"}`)
	if err != nil || warm.Env["GEN"] != "old" {
		t.Fatalf("warm-up: %+v, %v", warm, err)
	}

	type answer struct {
		r   fnResponse
		err error
	}
	inFlight := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		body, err := f.Invoke(ctx, []byte(`{"sleep":"700ms","env":"GEN"}`))
		var r fnResponse
		if err == nil {
			err = json.Unmarshal(body, &r)
		}
		inFlight <- answer{r, err}
	}()
	// Wait until the slow invocation holds an instance.
	deadline := time.Now().Add(10 * time.Second)
	for len(f.slots) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(f.slots) == 0 {
		t.Fatal("the slow invocation never started")
	}

	cfg := f.cfg
	cfg.Env = map[string]string{"GEN": "new"}
	f.Swap(cfg)

	fresh, err := invoke(t, f, `{"env":"GEN"}`)
	if err != nil || fresh.Env["GEN"] != "new" {
		t.Errorf("after Swap: %+v, %v; want GEN=new", fresh, err)
	}
	old := <-inFlight
	if old.err != nil || old.r.Env["GEN"] != "old" {
		t.Errorf("in-flight invocation: %+v, %v; want it to finish on GEN=old", old.r, old.err)
	}
	if old.r.PID == fresh.PID {
		t.Errorf("the new configuration ran in the old process %d", fresh.PID)
	}
	// The old instances (the idle warm one and the one that finished) are stopped.
	deadline = time.Now().Add(10 * time.Second)
	for f.Instances() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.Instances(); n != 1 {
		t.Errorf("%d instances alive after the swap settled, want 1 (the new one)", n)
	}
	again, err := invoke(t, f, `{"env":"GEN"}`)
	if err != nil || again.PID != fresh.PID {
		t.Errorf("the new instance is not reused: %+v, %v (want pid %d)", again, err, fresh.PID)
	}
}
