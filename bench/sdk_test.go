package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/modroot"
)

// TestSDKMeasurementsAtATinySize runs the bench's SDK phase end to end on
// the emulator (dev template) at a tiny size: 20 messages to catch up, 2
// handovers, and the client's overhead figures, then checks the report
// carries them.
func TestSDKMeasurementsAtATinySize(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emutest.CheckTemplate(root, ""); err != nil {
		t.Fatal(err) // fail, never skip: run make synth ENV=dev
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	bin, err := emutest.Build(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(t.TempDir() + "/emulator.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	e, err := emutest.Start(ctx, emutest.Options{Binary: bin, Root: root, PostLatency: 5 * time.Millisecond, Output: logFile})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Kill() }()

	res, err := measureSDK(ctx, e, sdkBench{catchUp: 20, handovers: 2, lifetime: 700 * time.Millisecond}, t.Logf)
	if err != nil {
		t.Fatalf("measureSDK: %v\n%s", err, e.Tail(50))
	}
	if err := overhead(ctx, root, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("sdk figures: %+v", *res)
	if res.CatchUpMessages != 20 || !res.CatchUpInOrder || res.CatchUpMs <= 0 {
		t.Errorf("catch-up = %d messages in %.0f ms, in order %v; want 20, in order", res.CatchUpMessages, res.CatchUpMs, res.CatchUpInOrder)
	}
	if res.Handovers != 2 || res.HandoverP50Ms <= 0 || res.HandoverP99Ms < res.HandoverP50Ms || res.HandoverAcked == 0 || res.HandoverLost != 0 || res.HandoverDup != 0 {
		t.Errorf("handovers = %+v; want 2 timed handovers, messages acked meanwhile, none lost or duplicated", *res)
	}
	if res.OverheadFrames == 0 || res.OverheadP99Us <= 0 {
		t.Errorf("overhead = %d frames, p99 %.1f µs; want figures", res.OverheadFrames, res.OverheadP99Us)
	}

	r := sampleResults()
	r.SDK = res
	b := &bench{opts: &options{postLatency: 20 * time.Millisecond, skip: map[string]bool{}}, res: r, devWorkers: 64}
	b.judge()
	md := markdown(r)
	var text strings.Builder
	printText(&text, r)
	for _, want := range []string{"## Client SDK (Go)", "offline client catch-up", "handover:", "SDK overhead per delivered frame"} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	for _, want := range []string{"Client SDK (Go)", "handover before the lifetime limit", "SDK overhead per delivered message"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the printed report lacks %q", want)
		}
	}
	// 20 messages are not the target's 1,000: that target is not judged.
	for _, tg := range r.Targets {
		if strings.HasPrefix(tg.Name, "offline client catches up") && !tg.NotMeasured {
			t.Errorf("target %q judged at a tiny size: %+v", tg.Name, tg)
		}
	}
}
