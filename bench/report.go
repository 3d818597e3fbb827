package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Limits of the targets, in bytes and milliseconds; "MB" and "GB" are read
// as the stricter decimal units.
const (
	zipLimit      = 3_000_000
	initLimitMs   = 20.0
	memLimit      = 1_000_000_000
	targetConns   = 10_000
	target1kMs    = 500.0
	target10kMs   = 3000.0
	targetLatency = 20 * time.Millisecond
)

// judge compares the results with the targets.
func (b *bench) judge() {
	r := b.res
	r.Targets = nil
	latencyNote := ""
	if b.opts.postLatency != targetLatency {
		latencyNote = fmt.Sprintf(" (measured with %s per call, not the target's 20 ms)", b.opts.postLatency)
	}
	for _, t := range []struct {
		members int
		limit   float64
	}{{1000, target1kMs}, {10_000, target10kMs}} {
		name := fmt.Sprintf("%s-member channel fully delivered", thousands(t.members))
		goal := fmt.Sprintf("< %s s (p99, through the chat function, 20 ms per @connections call)", trimFloat(t.limit/1000))
		run := b.findRun("handler", b.devWorkers, t.members)
		if run == nil {
			r.Targets = append(r.Targets, Target{Name: name, Goal: goal, Measured: "not measured", NotMeasured: true})
			continue
		}
		tg := Target{
			Name:     name,
			Goal:     goal,
			Measured: fmt.Sprintf("p50 %.0f ms, p99 %.0f ms, %d/%d sends complete%s", run.P50, run.P99, run.Complete, run.Sends, latencyNote),
			Pass:     run.Complete == run.Sends && run.P99 < t.limit && b.opts.postLatency == targetLatency,
		}
		if !tg.Pass {
			tg.Why = b.fanoutWhy(run, t.limit)
		}
		r.Targets = append(r.Targets, tg)
	}
	r.Targets = append(r.Targets, b.readTarget())
	r.Targets = append(r.Targets, b.functionTargets()...)
	r.Targets = append(r.Targets, b.capacityTarget())
	if r.SDK != nil {
		r.Targets = append(r.Targets, sdkTargets(r.SDK)...)
	}
	if r.Liveness != nil {
		r.Targets = append(r.Targets, livenessTargets(r.Liveness)...)
	}
	r.Targets = append(r.Targets, b.reloadTarget())
	r.Targets = append(r.Targets, b.scaleTargets()...)
	r.Targets = append(r.Targets, costTargets(r.Cost)...)
	r.Targets = append(r.Targets, typingTarget(r.Lifecycle))
	r.Targets = append(r.Targets, b.eventsTarget())
}

// reloadLimit is issue 14's target for --watch: save → new code answering.
const reloadLimit = 3.0

func (b *bench) reloadTarget() Target {
	t := Target{Name: "save → new code answering a frame (make dev, one-function change)", Goal: "< 3 s (p50), connection kept"}
	rl := oneFunctionReload(b.res.Reloads)
	if rl == nil {
		t.Measured, t.NotMeasured = "not measured", true
		return t
	}
	t.Measured = fmt.Sprintf("p50 %.2f s, max %.2f s over %d edits of %s (%s)", rl.P50, rl.Max, len(rl.Seconds), rl.Edit, rl.Function)
	t.Pass = rl.P50 < reloadLimit && rl.Connected
	if !t.Pass {
		t.Why = "most of it is `go build` of the function on this 2-core machine, shared with other builds"
	}
	return t
}

// oneFunctionReload is the row the target is judged on.
func oneFunctionReload(runs []ReloadRun) *ReloadRun {
	for i := range runs {
		if runs[i].Scope == "one function" {
			return &runs[i]
		}
	}
	return nil
}

// printReloads prints the hot reload rows.
func printReloads(w io.Writer, runs []ReloadRun) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nHot reload (--watch): save → first frame answered by the new build, one connection kept")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "change\tedited\tedits\tp50 s\tmax s\teach s\tkept\tlast reload line")
	for _, rl := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.2f\t%s\t%v\t%s\n", rl.Scope, rl.Edit, len(rl.Seconds), rl.P50, rl.Max, seconds(rl.Seconds), rl.Connected, lastLine(rl.Lines))
	}
	tw.Flush()
}

// reloadMarkdown is the hot reload section of results.md.
func reloadMarkdown(runs []ReloadRun) string {
	if len(runs) == 0 {
		return ""
	}
	var s strings.Builder
	s.WriteString("\n## Hot reload (--watch)\n\n")
	s.WriteString("Save of the edited file → the first frame answered by the new build of the function, with one client connected throughout; a frame sent every 125 ms (under the chat function's frame limit), so a figure is up to 0.125 s late.\n\n")
	s.WriteString("| change | edited | edits | p50 s | max s | each s | connection kept | the emulator's last reload line |\n|---|---|---:|---:|---:|---|---|---|\n")
	for _, rl := range runs {
		fmt.Fprintf(&s, "| %s (%s answers) | `%s` | %d | %.2f | %.2f | %s | %v | `%s` |\n", rl.Scope, rl.Function, rl.Edit, len(rl.Seconds), rl.P50, rl.Max, seconds(rl.Seconds), rl.Connected, lastLine(rl.Lines))
	}
	return s.String()
}

func seconds(vs []float64) string {
	each := make([]string, len(vs))
	for i, v := range vs {
		each[i] = fmt.Sprintf("%.2f", v)
	}
	return strings.Join(each, ", ")
}

func lastLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

func (b *bench) findRun(path string, workers, members int) *FanoutRun {
	for i := range b.res.Fanout {
		f := &b.res.Fanout[i]
		if f.Path == path && f.Workers == workers && f.Members == members {
			return f
		}
	}
	return nil
}

// fanoutWhy explains a missed latency target from the measurements.
func (b *bench) fanoutWhy(run *FanoutRun, limitMs float64) string {
	w := run.Workers
	rounds := math.Ceil(float64(run.Members) / float64(w))
	floor := rounds * float64(b.opts.postLatency.Microseconds()) / 1000
	var parts []string
	if floor >= limitMs {
		parts = append(parts, fmt.Sprintf("%d workers × 20 ms per call allow at most %.0f posts/s, so %s members need ≥ %.0f ms of posting alone (⌈%d/%d⌉ = %.0f rounds): the target is out of reach with the dev setting of %d workers",
			w, float64(w)/b.opts.postLatency.Seconds(), thousands(run.Members), floor, run.Members, w, rounds, w))
	} else {
		parts = append(parts, fmt.Sprintf("posting alone needs ≥ %.0f ms (⌈%d/%d⌉ rounds of %s); the rest is this 2-core machine running the gateway, the handler, dynalite and %s clients at once",
			floor, run.Members, w, b.opts.postLatency, thousands(run.Members)))
	}
	if run.HandlerMs > 0 {
		parts = append(parts, fmt.Sprintf("the handler's own fan-out took %.0f ms (p50)", run.HandlerMs))
	}
	for _, other := range b.res.Fanout {
		if other.Members == run.Members && other.Workers != w && other.Complete == other.Sends && other.P99 < limitMs {
			where := "the fan-out package driven directly"
			if other.Path == "handler" {
				where = "the chat function"
			}
			parts = append(parts, fmt.Sprintf("with %s, %s reaches p99 %.0f ms", workersLabel(other.Workers), where, other.P99))
		}
	}
	return strings.Join(parts, "; ")
}

// maxReadOverhead is the most items a send reads beyond its members: the
// membership check, and the channel's size item once or twice.
const maxReadOverhead = 3

func (b *bench) readTarget() Target {
	t := Target{Name: "DynamoDB items read per send", Goal: "members + a constant, flat as the table grows"}
	if len(b.res.ReadCost) == 0 {
		t.Measured, t.NotMeasured = "not measured", true
		return t
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	exact := true
	var rows []string
	for _, rc := range b.res.ReadCost {
		lo, hi = math.Min(lo, rc.Overhead), math.Max(hi, rc.Overhead)
		if rc.ItemsMin != rc.ItemsMax {
			exact = false
		}
		table := ""
		if rc.TableItems >= 0 {
			table = fmt.Sprintf(" in %s items", thousands(rc.TableItems))
		}
		rows = append(rows, fmt.Sprintf("%s%s: %s", thousands(rc.Members), table, trimFloat(rc.ItemsRead)))
	}
	t.Measured = fmt.Sprintf("members + %s (%s)", trimFloat(lo), strings.Join(rows, "; "))
	if hi != lo {
		t.Measured = fmt.Sprintf("members + %s..%s (%s)", trimFloat(lo), trimFloat(hi), strings.Join(rows, "; "))
	}
	// A spread send (above the fan-out threshold) reads the channel's size
	// once, where a sender-path send reads it twice: one item less, still a
	// constant.
	t.Pass = exact && hi-lo <= 1 && hi <= maxReadOverhead
	if !t.Pass {
		t.Why = "the reads beyond the members vary between sends, or by more than one item between channel sizes, or exceed 3; see the DynamoDB table"
	}
	return t
}

func (b *bench) functionTargets() []Target {
	t := Target{Name: "every function ≤ 3 MB zipped and init ≤ 20 ms", Goal: "zip ≤ 3,000,000 B (linux/arm64), init p50 ≤ 20 ms"}
	if len(b.res.ColdStart) == 0 {
		t.Measured, t.NotMeasured = "not measured", true
		return []Target{t}
	}
	t.Pass = true
	var parts, why []string
	for _, f := range b.res.ColdStart {
		parts = append(parts, fmt.Sprintf("%s %s / %.1f ms", f.Name, mb(f.ZipBytes), f.InitP50))
		if f.ZipBytes > zipLimit {
			t.Pass = false
			w := fmt.Sprintf("%s zips to %s B", f.Name, thousands(int(f.ZipBytes)))
			if len(f.Holds) > 0 {
				w += " (its code and data: " + holdsText(f.Holds, 4) + ")"
			}
			why = append(why, w)
		}
		if f.InitP50 > initLimitMs {
			t.Pass = false
			w := fmt.Sprintf("%s inits in %.1f ms", f.Name, f.InitP50)
			if fl := b.res.InitFloor; fl != nil {
				w += fmt.Sprintf(" (the smallest Go function, in the same run: %.1f ms)", fl.InitP50)
			}
			why = append(why, w)
		}
	}
	if fl := b.res.InitFloor; fl != nil {
		parts = append(parts, fmt.Sprintf("the smallest Go function inits in %.1f ms on this machine", fl.InitP50))
	}
	t.Measured = strings.Join(parts, "; ")
	t.Why = strings.Join(why, "; ")
	return []Target{t}
}

func (b *bench) capacityTarget() Target {
	t := Target{Name: "10,000 connections held by the emulator", Goal: "10,000 open at once, emulator RSS < 1 GB"}
	c := b.res.Capacity
	if c == nil {
		t.Measured, t.NotMeasured = "not measured", true
		return t
	}
	t.Measured = fmt.Sprintf("%s held, emulator RSS %s = %.2f GB (%.1f KiB per connection)", thousands(c.Held), mib(c.EmulatorRSSAfter), float64(c.EmulatorRSSAfter)/1e9, c.BytesPerConn/1024)
	if c.Connections < targetConns {
		t.NotMeasured = true
		t.Measured += fmt.Sprintf(" (only %s asked for: -sizes)", thousands(c.Connections))
		return t
	}
	t.Pass = c.Held >= targetConns && c.EmulatorRSSAfter < memLimit
	if !t.Pass {
		switch {
		case c.Held < targetConns:
			t.Why = fmt.Sprintf("%d connections ended during the run", c.Connections-c.Held)
		default:
			t.Why = "emulator RSS over 1 GB"
		}
	}
	return t
}

// write prints the tables and writes results.json, results.md and latency.svg.
func (b *bench) write(stdout io.Writer) error {
	if err := os.MkdirAll(b.opts.outDir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(b.res, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.json": append(js, '\n'),
		"results.md":   []byte(markdown(b.res)),
		"latency.svg":  []byte(latencyChart(b.res)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(b.opts.outDir, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout)
	printText(stdout, b.res)
	fmt.Fprintf(stdout, "\nwrote %s/{results.json,results.md,latency.svg}\n", b.opts.outDir)
	if b.res.Cost != nil {
		return b.writeCost(stdout)
	}
	return nil
}

// printText prints the results as aligned plain-text tables.
func printText(w io.Writer, r *Results) {
	m := r.Machine
	fmt.Fprintf(w, "wschat bench, %s (took %s)\n", r.Started.Format("2006-01-02 15:04 UTC"), r.Duration)
	fmt.Fprintf(w, "machine: nproc %d, %s, %s RAM, %s, kernel %s\n", m.CPUs, m.CPUModel, m.MemTotal, m.GoVersion, m.Kernel)
	fmt.Fprintf(w, "setup: @connections latency %s ms; dev stack: %d fan-out workers, send budget %d, chat timeout %s\n\n",
		trimFloat(r.Config.PostLatencyMs), r.Config.DevWorkers, r.Config.SendBudget, r.Config.FunctionTimeout)

	fmt.Fprintln(w, "Fan-out: send → last member's receipt")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tworkers\tmembers\tsends\tp50 ms\tp99 ms\tdeliveries/s\thandler ms\tpeak in flight\tposts/send\tskipped\t")
	for _, f := range r.Fanout {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t  %s\n", f.Path, workersName(f.Workers), f.Members, f.Sends,
			ms(f.P50, f.Complete), ms(f.P99, f.Complete), perSec(f.PerSec), optMs(f.HandlerMs), optInt(f.PeakInFlight), f.Posts, f.Skipped, f.Note)
	}
	tw.Flush()
	if r.Budget != nil {
		bc := r.Budget
		fmt.Fprintf(w, "send budget: %d members with a budget of %d → %d read, %d posted, %d skipped, %d not read; %d received\n",
			bc.Members, bc.Budget, bc.Read, bc.Delivered, bc.Skipped, bc.Unread, bc.Received)
	}

	printScale(w, r)

	fmt.Fprintln(w, "\nDynamoDB per send, as the chat function did it")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "channel\tmembers\ttable items\tsends\titems read\tbeyond members\tRCU\tWCU\tcalls per send\t")
	for _, rc := range r.ReadCost {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%.1f\t%.1f\t%s\t\n", rc.Channel, rc.Members, tableItems(rc.TableItems), rc.Sends,
			trimFloat(rc.ItemsRead), trimFloat(rc.Overhead), rc.ReadCU, rc.WriteCU, rc.Calls)
	}
	tw.Flush()

	if len(r.ColdStart) > 0 {
		fmt.Fprintln(w, "\nFunctions: size as deployed (linux/arm64), init on this host (process start → first GET /invocation/next)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "function\traw\tzipped\tsame as cdk.out asset\tinit p50 ms\tp90\tmin\tmax\tstarts\t")
		for _, f := range r.ColdStart {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t\n", f.Name, mb(f.RawBytes), mb(f.ZipBytes), sameAsset(f.SameAsAsset),
				f.InitP50, f.InitP90, f.InitMin, f.InitMax, f.Starts)
		}
		tw.Flush()
	}

	if c := r.Capacity; c != nil {
		fmt.Fprintln(w, "\nEmulator capacity")
		fmt.Fprintf(w, "  %s connections, %s still open at the end; set up at %.0f/s (%.1fs, $connect authorizer + handler each)\n",
			thousands(c.Connections), thousands(c.Held), c.SetupPerSecond, c.SetupSeconds)
		fmt.Fprintf(w, "  emulator RSS %s → %s: %.1f KiB per connection\n", mib(c.EmulatorRSSBefore), mib(c.EmulatorRSSAfter), c.BytesPerConn/1024)
		fmt.Fprintf(w, "  meanwhile: handlers %s (%d instances), dynalite %s, benchmark clients %s\n",
			mib(c.HandlersRSS), c.HandlerInstances, mib(c.DynaliteRSS), mib(c.BenchRSS))
	}

	if s := r.SDK; s != nil {
		fmt.Fprintln(w, "\nClient SDK (Go)")
		fmt.Fprintf(w, "  offline client, Dial + Join(From(0)) → last of %s messages delivered: %.0f ms (in order: %v)\n", thousands(s.CatchUpMessages), s.CatchUpMs, s.CatchUpInOrder)
		fmt.Fprintf(w, "  handover (new connection dialled → took over): %d handovers, p50 %.0f ms, p99 %.0f ms; %d acked meanwhile, %d lost, %d duplicated\n",
			s.Handovers, s.HandoverP50Ms, s.HandoverP99Ms, s.HandoverAcked, s.HandoverLost, s.HandoverDup)
		fmt.Fprintf(w, "  SDK overhead per delivered frame (decode, dedupe, reorder): p50 %.1f µs, p99 %.1f µs over %s frames\n", s.OverheadP50Us, s.OverheadP99Us, thousands(s.OverheadFrames))
	}

	printLiveness(w, r.Liveness)
	printLifecycle(w, r.Lifecycle)
	printReloads(w, r.Reloads)

	printTargets(w, r.Targets)
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
}

// markdown renders results.md.
func markdown(r *Results) string {
	var s strings.Builder
	m := r.Machine
	fmt.Fprintf(&s, "# wschat benchmark results\n\n")
	fmt.Fprintf(&s, "Generated by `make bench` (`%s`) on %s in %s. How to read this: [docs/bench.md](../docs/bench.md).\n\n",
		strings.Join(append([]string{"go run ./bench"}, r.Config.Args...), " "), r.Started.Format("2006-01-02 15:04 UTC"), r.Duration)
	fmt.Fprintf(&s, "Machine: `nproc` %d, %s, %s RAM, %s, kernel %s.  \n", m.CPUs, m.CPUModel, m.MemTotal, m.GoVersion, m.Kernel)
	fmt.Fprintf(&s, "Setup: @connections latency %s ms (`--post-latency`); dev stack: %d fan-out workers, send budget %d, chat function timeout %s.\n\n",
		trimFloat(r.Config.PostLatencyMs), r.Config.DevWorkers, r.Config.SendBudget, r.Config.FunctionTimeout)

	s.WriteString("## Targets\n\n| | target | goal | measured |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		measured := t.Measured
		if t.Why != "" {
			measured += "<br>*why:* " + t.Why
		}
		fmt.Fprintf(&s, "| **%s** | %s | %s | %s |\n", t.verdict(), t.Name, t.Goal, measured)
	}

	s.WriteString("\n## Fan-out: send → last member's receipt\n\n![delivery latency vs channel size](latency.svg)\n\n")
	s.WriteString("| path | workers | members | sends | p50 ms | p99 ms | deliveries/s | handler fan-out ms | peak posts in flight | posts/send | skipped | note |\n")
	s.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, f := range r.Fanout {
		fmt.Fprintf(&s, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %d | %s |\n", f.Path, workersName(f.Workers), thousands(f.Members), f.Sends,
			ms(f.P50, f.Complete), ms(f.P99, f.Complete), perSec(f.PerSec), optMs(f.HandlerMs), optInt(f.PeakInFlight), thousands(f.Posts), f.Skipped, f.Note)
	}
	if r.Budget != nil {
		bc := r.Budget
		fmt.Fprintf(&s, "\nSend budget: a broadcast to %s members with a budget of %s read %s members, posted to %s, skipped %s and read no further page (%s not read); %s members received it.\n",
			thousands(bc.Members), thousands(bc.Budget), thousands(bc.Read), thousands(bc.Delivered), thousands(bc.Skipped), thousands(bc.Unread), thousands(bc.Received))
	}

	scaleMarkdown(&s, r)
	costSummaryMarkdown(&s, r)
	s.WriteString(eventsMarkdown(r))

	s.WriteString("\n## DynamoDB per send, as the chat function did it\n\n")
	s.WriteString("| channel | members | table items | sends | items read | beyond members | RCU | WCU | calls per send |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, rc := range r.ReadCost {
		fmt.Fprintf(&s, "| %s | %s | %s | %d | %s | %s | %.1f | %.1f | %s |\n", rc.Channel, thousands(rc.Members), tableItems(rc.TableItems), rc.Sends,
			trimFloat(rc.ItemsRead), trimFloat(rc.Overhead), rc.ReadCU, rc.WriteCU, rc.Calls)
	}

	if len(r.ColdStart) > 0 {
		s.WriteString("\n## Functions\n\nSize as deployed (linux/arm64, the stack's build flags); init time of the same code built for this host: process start → first `GET /2018-06-01/runtime/invocation/next`.\n\n")
		s.WriteString("| function | raw | zipped | same bytes as the cdk.out asset | init p50 ms | p90 | min | max | starts |\n|---|---:|---:|---|---:|---:|---:|---:|---:|\n")
		for _, f := range r.ColdStart {
			fmt.Fprintf(&s, "| %s | %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %d |\n", f.Name, mb(f.RawBytes), mb(f.ZipBytes), sameAsset(f.SameAsAsset),
				f.InitP50, f.InitP90, f.InitMin, f.InitMax, f.Starts)
		}
	}
	s.WriteString(reloadMarkdown(r.Reloads))
	if c := r.Capacity; c != nil {
		s.WriteString("\n## Emulator capacity\n\n")
		fmt.Fprintf(&s, "| connections | open at the end | setup rate | emulator RSS before → after | per connection | handlers | dynalite | benchmark clients |\n|---:|---:|---:|---|---:|---:|---:|---:|\n")
		fmt.Fprintf(&s, "| %s | %s | %.0f/s | %s → %s | %.1f KiB | %s (%d instances) | %s | %s |\n", thousands(c.Connections), thousands(c.Held), c.SetupPerSecond,
			mib(c.EmulatorRSSBefore), mib(c.EmulatorRSSAfter), c.BytesPerConn/1024, mib(c.HandlersRSS), c.HandlerInstances, mib(c.DynaliteRSS), mib(c.BenchRSS))
	}
	if k := r.SDK; k != nil {
		s.WriteString("\n## Client SDK (Go)\n\n| measurement | result |\n|---|---|\n")
		fmt.Fprintf(&s, "| offline client catch-up: Dial + Join(From(0)) → last of %s messages delivered | %.0f ms, in order: %v |\n", thousands(k.CatchUpMessages), k.CatchUpMs, k.CatchUpInOrder)
		fmt.Fprintf(&s, "| handover: new connection dialled → took over (rejoined, caught up) | %d handovers, p50 %.0f ms, p99 %.0f ms; %d acked meanwhile, %d lost, %d duplicated |\n",
			k.Handovers, k.HandoverP50Ms, k.HandoverP99Ms, k.HandoverAcked, k.HandoverLost, k.HandoverDup)
		fmt.Fprintf(&s, "| SDK overhead per delivered frame (decode, dedupe, reorder; `TestDeliverOverheadP99`) | p50 %.1f µs, p99 %.1f µs over %s frames |\n", k.OverheadP50Us, k.OverheadP99Us, thousands(k.OverheadFrames))
	}
	s.WriteString(livenessMarkdown(r.Liveness))
	s.WriteString(lifecycleMarkdown(r.Lifecycle))
	if len(r.Notes) > 0 {
		s.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&s, "- %s\n", n)
		}
	}
	return s.String()
}

func ms(v float64, complete int) string {
	if complete == 0 || math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func optMs(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func optInt(v int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%d", v)
}

func perSec(v float64) string {
	if v == 0 {
		return "-"
	}
	return thousands(int(math.Round(v)))
}

func tableItems(n int) string {
	if n < 0 {
		return "-"
	}
	return thousands(n)
}

func sameAsset(p *bool) string {
	switch {
	case p == nil:
		return "no asset"
	case *p:
		return "yes"
	default:
		return "no"
	}
}

// thousands formats n with commas.
func thousands(n int) string {
	s := fmt.Sprintf("%d", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	out = append([]string{s}, out...)
	res := strings.Join(out, ",")
	if neg {
		res = "-" + res
	}
	return res
}

// trimFloat formats v with at most one decimal, dropping ".0".
func trimFloat(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

// printTargets prints targets judged, with the reason of each miss.
func printTargets(w io.Writer, targets []Target) {
	fmt.Fprintln(w, "\nTargets")
	for _, t := range targets {
		fmt.Fprintf(w, "  %s  %s: %s — goal %s\n", t.verdict(), t.Name, t.Measured, t.Goal)
		if t.Why != "" {
			fmt.Fprintf(w, "        why: %s\n", t.Why)
		}
	}
}
