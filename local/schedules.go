package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/lambda"
)

// scheduler runs the template's EventBridge schedules: each enabled rule
// invokes its target functions (through the same lambda.Function as routes,
// reserved concurrency included) at its rate, or every --schedule-interval
// when that is set (tests and manual runs need not wait a minute). A run
// that fails is logged, never retried: the targets here are written to make
// up for a missed run on the next.
type scheduler struct {
	out      *lockedWriter
	every    time.Duration // --schedule-interval; 0: each rule's rate
	region   string
	account  string
	invoker  *mappingInvoker
	stop     context.CancelFunc
	wg       sync.WaitGroup
	runs     atomic.Int64
	failures atomic.Int64
}

// startSchedules starts stack's enabled schedules against fns; a reload
// stops them and starts the new template's.
func (e *session) startSchedules(stack *template.Stack, fns map[*template.Function]*lambda.Function) {
	if e.schedules != nil {
		e.schedules.halt()
	}
	s := &scheduler{out: e.out, every: e.cfg.scheduleInterval, region: e.cfg.region, account: "000000000000",
		invoker: &mappingInvoker{}}
	s.invoker.set(fns)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	for _, sch := range stack.Schedules {
		if !sch.Enabled {
			continue
		}
		s.wg.Add(1)
		go s.run(ctx, sch)
	}
	e.schedules = s
}

// halt stops the schedules; a run in flight finishes.
func (s *scheduler) halt() {
	s.stop()
	s.wg.Wait()
}

func (s *scheduler) interval(sch *template.Schedule) time.Duration {
	if s.every > 0 {
		return s.every
	}
	return sch.Every
}

func (s *scheduler) run(ctx context.Context, sch *template.Schedule) {
	defer s.wg.Done()
	t := time.NewTicker(s.interval(sch))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-t.C:
			for _, tg := range sch.Targets {
				s.invoke(ctx, sch, tg, at)
			}
		}
	}
}

// invoke runs one target once, as EventBridge does: an asynchronous
// invocation with the scheduled event (or the target's constant Input).
func (s *scheduler) invoke(ctx context.Context, sch *template.Schedule, tg template.ScheduleTarget, at time.Time) {
	payload := []byte(tg.Input)
	if tg.Input == "" {
		payload = s.event(sch, at)
	}
	s.runs.Add(1)
	// A function error, timeout or crash is an error (*lambda.Error).
	if _, err := s.invoker.Invoke(ctx, tg.Function.Label, payload); err != nil && ctx.Err() == nil {
		s.failures.Add(1)
		s.out.printf("[schedule] %s → %s failed (not retried; the next run is in %s): %v", sch.LogicalID, tg.Function.Label, s.interval(sch), err)
	}
}

// event is EventBridge's scheduled event.
func (s *scheduler) event(sch *template.Schedule, at time.Time) []byte {
	id := make([]byte, 16)
	_, _ = rand.Read(id) // crypto/rand.Read never fails (Go 1.24+)
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": hex.EncodeToString(id), "detail-type": "Scheduled Event", "source": "aws.events",
		"account": s.account, "time": at.UTC().Format(time.RFC3339), "region": s.region,
		"resources": []string{sch.ARN}, "detail": map[string]any{},
	})
	return b
}

// scheduleBanner describes the schedules for the banner.
func scheduleBanner(stack *template.Stack, every time.Duration) string {
	var b strings.Builder
	for _, sch := range stack.Schedules {
		var targets []string
		for _, tg := range sch.Targets {
			targets = append(targets, tg.Function.Label)
		}
		when := sch.Expression
		if every > 0 {
			when = fmt.Sprintf("every %s (--schedule-interval; the template says %s)", every, sch.Expression)
		}
		if !sch.Enabled {
			when += ", disabled"
		}
		fmt.Fprintf(&b, "  schedule    %s → %s %s\n", sch.LogicalID, strings.Join(targets, ", "), when)
	}
	return b.String()
}
