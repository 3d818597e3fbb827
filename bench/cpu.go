package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/connections"
	"github.com/wschat/wschat/internal/connections/sdkposter"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/protocol"
)

// CPURow is the fan-out's CPU and allocations per delivered message with
// one @connections poster: internal/fanout driven from this process (as
// the functions run it: 128 workers, members read page by page from the
// table) against the emulator's @connections API, to virtual members.
type CPURow struct {
	Poster     string `json:"poster"` // "lean" (internal/connections) or "sdk" (the SDK's client)
	Broadcasts int    `json:"broadcasts"`
	Deliveries int    `json:"deliveries"`
	// CPUMicros is user + system CPU of this process per delivery;
	// Allocs and AllocBytes the heap allocations per delivery (reads of
	// the member pages included, the same for both posters).
	CPUMicros  float64 `json:"cpuMicrosPerDelivery"`
	Allocs     float64 `json:"allocsPerDelivery"`
	AllocBytes float64 `json:"allocBytesPerDelivery"`
	PerSec     float64 `json:"deliveriesPerSecond"`
}

// cpuMembers and cpuRounds size the comparison: each round broadcasts
// once with each poster, alternating which goes first, so both see the
// same machine (it is shared: figures are noisy, the ratio less so).
const (
	cpuMembers = 20000
	cpuRounds  = 3
)

// measureCPU compares the lean poster with the SDK's client.
func (b *bench) measureCPU(ctx context.Context) error {
	ch := fmt.Sprintf("cost-cpu%d", cpuMembers)
	ids, err := b.e.AddVirtual(ctx, cpuMembers)
	if err != nil {
		return err
	}
	if err := b.store.SeedFanoutMembers(ctx, ch, ids); err != nil {
		return err
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("local", "local", ""))}
	lean, err := connections.New(cfg, b.e.CallbackURL, connections.Options{MaxConns: b.devWorkers})
	if err != nil {
		return err
	}
	posters := map[string]fanout.Poster{"lean": lean, "sdk": sdkposter.New(cfg, b.e.CallbackURL, sdkposter.Options{MaxConns: b.devWorkers})}
	frame, err := protocol.Encode(protocol.Message{Channel: ch, Entry: protocol.Entry{Seq: 1, UserID: "bench", UserName: "bench", Text: "cpu", ClientID: "cpu", SentAt: time.Now().UTC()}})
	if err != nil {
		return err
	}
	rows := map[string]*CPURow{"lean": {Poster: "lean"}, "sdk": {Poster: "sdk"}}
	var wall = map[string]time.Duration{}
	b.p.printf("cost: CPU per delivery, %d rounds of a broadcast to %d virtual members with each poster", cpuRounds, cpuMembers)
	for round := -1; round < cpuRounds; round++ {
		order := []string{"lean", "sdk"}
		if round%2 != 0 {
			order = []string{"sdk", "lean"}
		}
		for _, name := range order {
			f := fanout.New(b.store, posters[name], fanout.Config{Workers: b.devWorkers}, nil, nil)
			cpu, allocs, bytes, took, delivered, err := measureBroadcast(ctx, f, ch, frame)
			if err != nil {
				return err
			}
			if round < 0 {
				continue // warm-up: connection pools, signing keys
			}
			r := rows[name]
			r.Broadcasts++
			r.Deliveries += delivered
			r.CPUMicros += cpu
			r.Allocs += allocs
			r.AllocBytes += bytes
			wall[name] += took
		}
	}
	for _, name := range []string{"sdk", "lean"} {
		r := rows[name]
		n := float64(max(r.Deliveries, 1))
		r.CPUMicros, r.Allocs, r.AllocBytes = r.CPUMicros/n, r.Allocs/n, r.AllocBytes/n
		r.PerSec = float64(r.Deliveries) / wall[name].Seconds()
		b.res.Cost.CPU = append(b.res.Cost.CPU, *r)
		b.p.printf("  %s poster: %.1f µs CPU, %.0f allocations, %.1f KB per delivery; %.0f deliveries/s", name, r.CPUMicros, r.Allocs, r.AllocBytes/1024, r.PerSec)
	}
	return nil
}

// measureBroadcast broadcasts frame once and returns this process's CPU
// (µs), heap allocations and bytes, the time it took and the posts made.
func measureBroadcast(ctx context.Context, f *fanout.Fanout, ch string, frame []byte) (cpu, allocs, bytes float64, took time.Duration, delivered int, err error) {
	runtime.GC()
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(samples)
	a0, b0 := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	c0 := processCPU()
	start := time.Now()
	stats, err := f.Broadcast(ctx, chat.NewBudget(cpuMembers+1), ch, frame)
	took = time.Since(start)
	c1 := processCPU()
	metrics.Read(samples)
	if err == nil && stats.Delivered != cpuMembers {
		err = fmt.Errorf("broadcast to %s: %d of %d delivered (%d failed)", ch, stats.Delivered, cpuMembers, stats.Failed)
	}
	return float64((c1 - c0).Microseconds()), float64(samples[0].Value.Uint64() - a0), float64(samples[1].Value.Uint64() - b0), took, stats.Delivered, err
}

// processCPU is this process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
