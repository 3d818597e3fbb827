// Package liveproof is the liveness proof of the SDKs on a hostile network:
// receivers of both SDKs (Go in process; JavaScript under Node.js, the
// script in reliability/testdata/liveproof.mjs) are each connected to the
// emulator through their own internal/badnet proxy, with latency and jitter
// on every link, while a sender keeps posting to their channel. Most of the
// receivers' connections are then blackholed (silent, no FIN, no RST), one
// is reset, one paused and resumed, one throttled. It measures, per SDK and
// fault kind, how long each SDK took to notice (its transition to
// reconnecting), how long the server kept the dead connection (until its
// items left the table: fan-out and presence), and checks that every
// acknowledged message reached every receiver once and in order.
//
// reliability/liveness_test.go runs it small for `make test` and larger
// with WSCHAT_SOAK=1; bench/ runs it for `make bench`'s figures.
package liveproof

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wschat/wschat/client"
	"github.com/wschat/wschat/internal/badnet"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/testkit"
)

// Config sizes one run.
type Config struct {
	Emulator *emutest.Emulator
	// GoReceivers and JSReceivers per SDK (JS needs Node and Script).
	GoReceivers, JSReceivers int
	// Of each SDK's receivers: Blackholes are blackholed, then one each is
	// reset, paused for Pause and throttled to Bandwidth bytes/s, when
	// there are receivers left.
	Blackholes int
	Pause      time.Duration
	Bandwidth  int
	// Shape is every link's latency and jitter.
	Shape badnet.Shape
	// SendEvery paces the sender; Spread staggers the faults over a window.
	SendEvery, Spread time.Duration
	// Heartbeat overrides the SDKs' heartbeat (zero: their defaults, which
	// is what the proof is about).
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// Node and Script run the JavaScript receivers.
	Node, Script string
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// Figures are one SDK's results.
type Figures struct {
	SDK                                 string
	Receivers, Acked, Deliveries        int
	Lost, Duplicated, OutOfOrder, Holes int
	Reconnects, Silent                  int64
	Faults                              map[badnet.Kind]int
	Detect                              map[badnet.Kind][]time.Duration
	Survived                            map[badnet.Kind]int // faults that cost no reconnect
	Dropped                             []time.Duration     // fault → the old connection's items gone
	DroppedBytes                        int64
	undetected                          map[badnet.Kind]int
}

// Undetected counts faults of kind that never led to a reconnect.
func (f *Figures) Undetected(k badnet.Kind) int { return f.undetected[k] }

// P returns the q-quantile (0..1) of d, nearest rank; 0 for none.
func P(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (f *Figures) String() string {
	var kinds []string
	for k := range f.Faults {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	var fs, det []string
	for _, k := range kinds {
		fs = append(fs, fmt.Sprintf("%s %d", k, f.Faults[badnet.Kind(k)]))
		if d := f.Detect[badnet.Kind(k)]; len(d) > 0 {
			det = append(det, fmt.Sprintf("%s n=%d p50 %.1fs p99 %.1fs", k, len(d), P(d, .5).Seconds(), P(d, .99).Seconds()))
		}
		if n := f.Survived[badnet.Kind(k)]; n > 0 {
			det = append(det, fmt.Sprintf("%s survived %d (no reconnect)", k, n))
		}
	}
	return fmt.Sprintf("receivers %d, acked %d, deliveries %d, lost %d, duplicated %d, out of order %d, unreported holes %d, reconnects %d, silent %d; faults: %s; bytes dropped %d; detection: %s; server dropped the dead connection: n=%d p50 %.1fs p99 %.1fs",
		f.Receivers, f.Acked, f.Deliveries, f.Lost, f.Duplicated, f.OutOfOrder, f.Holes, f.Reconnects, f.Silent,
		strings.Join(fs, ", "), f.DroppedBytes, strings.Join(det, "; "), len(f.Dropped), P(f.Dropped, .5).Seconds(), P(f.Dropped, .99).Seconds())
}

// receiver is one receiving client of either SDK.
type receiver struct {
	user  string
	sdk   string
	proxy *badnet.Proxy
	fault badnet.Kind // "" for none
	// faultAt and the old connection's id, set when the fault is applied.
	faultAt time.Time
	oldIDs  []string

	mu        sync.Mutex
	lostAt    time.Time // first transition to reconnecting after the fault
	droppedAt time.Time // the old connection's items gone from the table
	seqs      []int64
	holes     [][2]int64

	goClient *client.Client
}

func (r *receiver) stateChange(to string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if to == "reconnecting" && !r.faultAt.IsZero() && r.lostAt.IsZero() && at.After(r.faultAt) {
		r.lostAt = at
	}
}

const channel = "liveproof"

// run is one proof run.
type run struct {
	cfg       Config
	e         *emutest.Emulator
	receivers []*receiver
	js        *jsSide
	logf      func(string, ...any)
}

// Run runs the proof and returns the figures per SDK ("go", "js").
func Run(ctx context.Context, cfg Config) (map[string]*Figures, error) {
	if cfg.SendEvery <= 0 {
		cfg.SendEvery = 250 * time.Millisecond
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	r := &run{cfg: cfg, e: cfg.Emulator, logf: logf}
	defer r.close()
	if err := r.startReceivers(ctx); err != nil {
		return nil, err
	}
	sender, err := r.dial(ctx, "liveproof-sender", nil)
	if err != nil {
		return nil, err
	}
	defer sender.Close()
	if _, err := sender.Join(ctx, channel); err != nil {
		return nil, fmt.Errorf("sender join: %w", err)
	}
	acked, sendErr := make(chan []int64, 1), make(chan error, 1)
	sendCtx, stopSending := context.WithCancel(ctx)
	go func() {
		seqs, err := send(sendCtx, sender, cfg.SendEvery)
		acked <- seqs
		sendErr <- err
	}()
	// Faults land on steady traffic: every Go receiver has messages, and
	// the first message's gap is settled (a new channel's first seq is its
	// counter's base, far above 0: subscribers that joined from 0 ask
	// history for the gap after GapTimeout, 2 s). A request waiting on a
	// dead connection makes the heartbeat probe early, which would shorten
	// what the proof measures: the quiet case.
	if err := r.awaitTraffic(ctx, 4); err != nil {
		stopSending()
		return nil, err
	}
	time.Sleep(3 * time.Second)
	if err := r.injectFaults(ctx); err != nil {
		stopSending()
		return nil, err
	}
	err = r.awaitDetection(ctx)
	time.Sleep(4 * cfg.SendEvery) // messages after the reconnects too
	stopSending()
	seqs := <-acked
	if serr := <-sendErr; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	logf("liveproof: %d messages acked; waiting for every receiver", len(seqs))
	return r.figures(ctx, seqs)
}

// send sends until ctx ends; every send must be acked (the SDK retries).
func send(ctx context.Context, c *client.Client, every time.Duration) ([]int64, error) {
	var seqs []int64
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return seqs, nil
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		seq, err := c.Send(sctx, channel, fmt.Sprintf("message %d", i))
		cancel()
		if err != nil {
			return seqs, fmt.Errorf("send %d: %w", i, err)
		}
		seqs = append(seqs, seq)
	}
}

// awaitTraffic waits until every Go receiver has delivered n messages.
func (r *run) awaitTraffic(ctx context.Context, n int) error {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		ready := true
		for _, rc := range r.receivers {
			rc.mu.Lock()
			ready = ready && (rc.goClient == nil || len(rc.seqs) >= n)
			rc.mu.Unlock()
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("liveproof: the Go receivers did not get %d messages within a minute", n)
}

// plan assigns the fault kinds to n receivers.
func (r *run) plan(n int) []badnet.Kind {
	out := make([]badnet.Kind, n)
	i := 0
	for ; i < min(r.cfg.Blackholes, n); i++ {
		out[i] = badnet.KindBlackhole
	}
	for _, k := range []badnet.Kind{badnet.KindReset, badnet.KindPause, badnet.KindBandwidth} {
		if i < n {
			out[i] = k
			i++
		}
	}
	return out
}

func (r *run) newReceiver(sdk string, i int, fault badnet.Kind) (*receiver, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(r.e.BaseURL, "http://"), "https://")
	p, err := badnet.Listen(host, badnet.Options{Shape: r.cfg.Shape})
	if err != nil {
		return nil, err
	}
	rc := &receiver{user: fmt.Sprintf("liveproof-%s-%02d", sdk, i), sdk: sdk, proxy: p, fault: fault}
	r.receivers = append(r.receivers, rc)
	return rc, nil
}

func (r *run) startReceivers(ctx context.Context) error {
	for i, f := range r.plan(r.cfg.GoReceivers) {
		rc, err := r.newReceiver("go", i, f)
		if err != nil {
			return err
		}
		c, err := r.dial(ctx, rc.user, rc)
		if err != nil {
			return err
		}
		rc.goClient = c
		sub, err := c.Join(ctx, channel, client.From(0))
		if err != nil {
			return fmt.Errorf("%s: join: %w", rc.user, err)
		}
		go func() {
			for ev := range sub.Events() {
				rc.mu.Lock()
				switch ev.Type {
				case client.EventMessage:
					rc.seqs = append(rc.seqs, ev.Message.Seq)
				case client.EventDiscontinuity:
					rc.holes = append(rc.holes, [2]int64{ev.Discontinuity.From, ev.Discontinuity.To})
				}
				rc.mu.Unlock()
			}
		}()
	}
	if r.cfg.JSReceivers > 0 {
		var js []*receiver
		for i, f := range r.plan(r.cfg.JSReceivers) {
			rc, err := r.newReceiver("js", i, f)
			if err != nil {
				return err
			}
			js = append(js, rc)
		}
		side, err := r.startJS(ctx, js)
		if err != nil {
			return err
		}
		r.js = side
	}
	r.logf("liveproof: %d Go and %d JavaScript receivers joined, each through its own proxy", r.cfg.GoReceivers, r.cfg.JSReceivers)
	return nil
}

// dial connects a Go client; rc (nil for the sender, which connects
// directly) records its states and carries its connections through its
// proxy, the client still addressing the emulator.
func (r *run) dial(ctx context.Context, user string, rc *receiver) (*client.Client, error) {
	o := client.Options{
		Token:             func(ctx context.Context) (string, error) { return r.e.Token(ctx, user) },
		BackoffBase:       100 * time.Millisecond,
		BackoffMax:        2 * time.Second,
		MaxSendAttempts:   60,
		HeartbeatInterval: r.cfg.HeartbeatInterval,
		HeartbeatTimeout:  r.cfg.HeartbeatTimeout,
	}
	if rc != nil {
		o.OnState = func(s client.StateChange) { rc.stateChange(s.To.String(), s.At) }
		o.HTTPClient = rc.proxy.HTTPClient()
	}
	c, err := client.Dial(ctx, r.e.WebSocketURL, o)
	if err != nil {
		return nil, fmt.Errorf("%s: dial: %w", user, err)
	}
	return c, nil
}

// injectFaults applies each receiver's fault, spread over cfg.Spread,
// after noting the connection ids the server holds for it.
func (r *run) injectFaults(ctx context.Context) error {
	table, err := r.e.TableName()
	if err != nil {
		return err
	}
	ids, err := emutest.ConnectionIDs(ctx, dynamotest.Client(r.e.DynamoDB), table)
	if err != nil {
		return err
	}
	var faulted []*receiver
	for _, rc := range r.receivers {
		if rc.fault != "" {
			faulted = append(faulted, rc)
		}
	}
	for _, rc := range faulted {
		if r.cfg.Spread > 0 && len(faulted) > 1 {
			time.Sleep(r.cfg.Spread / time.Duration(len(faulted)))
		}
		conn := rc.proxy.Healthy()
		if conn == nil {
			return fmt.Errorf("%s: no open connection to fault", rc.user)
		}
		rc.mu.Lock()
		rc.oldIDs = ids[rc.user]
		rc.faultAt = time.Now()
		rc.mu.Unlock()
		switch rc.fault {
		case badnet.KindBlackhole:
			conn.Blackhole()
		case badnet.KindReset:
			conn.Reset()
		case badnet.KindPause:
			conn.Pause()
			go func() {
				time.Sleep(r.cfg.Pause)
				conn.Resume()
			}()
		case badnet.KindBandwidth:
			conn.Shape(badnet.Shape{Latency: r.cfg.Shape.Latency, Jitter: r.cfg.Shape.Jitter, Bandwidth: r.cfg.Bandwidth})
		}
	}
	r.logf("liveproof: %d faults applied", len(faulted))
	return nil
}

// awaitDetection waits until every blackholed and reset receiver has
// reconnected and the server has dropped each one's old connection, or a
// bound well past the SDKs' heartbeat.
func (r *run) awaitDetection(ctx context.Context) error {
	table, err := r.e.TableName()
	if err != nil {
		return err
	}
	db := dynamotest.Client(r.e.DynamoDB)
	bound := 90 * time.Second
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		ids, err := emutest.ConnectionIDs(ctx, db, table)
		if err != nil {
			return err
		}
		pending := 0
		for _, rc := range r.receivers {
			if rc.fault != badnet.KindBlackhole && rc.fault != badnet.KindReset {
				continue
			}
			rc.mu.Lock()
			if rc.droppedAt.IsZero() && !slices.ContainsFunc(rc.oldIDs, func(id string) bool { return slices.Contains(ids[rc.user], id) }) {
				rc.droppedAt = time.Now()
			}
			if rc.lostAt.IsZero() || rc.droppedAt.IsZero() {
				pending++
			}
			rc.mu.Unlock()
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	r.logf("liveproof: not every fault was detected within %v", bound)
	return nil // the figures say which
}

// figures waits (bounded) for every receiver to have every acked message,
// then counts.
func (r *run) figures(ctx context.Context, acked []int64) (map[string]*Figures, error) {
	if r.js != nil {
		if err := r.js.finish(ctx, acked); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && !r.allDelivered(acked) {
		time.Sleep(100 * time.Millisecond)
	}
	out := map[string]*Figures{}
	for _, rc := range r.receivers {
		f := out[rc.sdk]
		if f == nil {
			f = &Figures{SDK: rc.sdk, Acked: len(acked), Faults: map[badnet.Kind]int{}, Detect: map[badnet.Kind][]time.Duration{},
				Survived: map[badnet.Kind]int{}, undetected: map[badnet.Kind]int{}}
			out[rc.sdk] = f
		}
		f.Receivers++
		for k, n := range rc.proxy.Faults() {
			f.Faults[k] += n
		}
		f.DroppedBytes += rc.proxy.Stats().Dropped
		rc.mu.Lock()
		c := Check(rc.seqs, rc.holes, acked)
		switch {
		case rc.fault == "":
		case !rc.lostAt.IsZero():
			f.Detect[rc.fault] = append(f.Detect[rc.fault], rc.lostAt.Sub(rc.faultAt))
		case rc.fault == badnet.KindBlackhole || rc.fault == badnet.KindReset:
			f.undetected[rc.fault]++
		default:
			f.Survived[rc.fault]++
		}
		if (rc.fault == badnet.KindBlackhole || rc.fault == badnet.KindReset) && !rc.droppedAt.IsZero() {
			f.Dropped = append(f.Dropped, rc.droppedAt.Sub(rc.faultAt))
		}
		rc.mu.Unlock()
		f.Deliveries += c.Deliveries
		f.Lost += c.Lost
		f.Duplicated += c.Duplicated
		f.OutOfOrder += c.OutOfOrder
		f.Holes += c.Unreported
		if rc.goClient != nil {
			s := rc.goClient.Stats()
			f.Reconnects += s.Reconnects
			f.Silent += s.Silent
		}
	}
	if r.js != nil {
		for _, st := range r.js.stats {
			out["js"].Reconnects += st.Reconnects
			out["js"].Silent += st.Silent
		}
	}
	return out, nil
}

func (r *run) allDelivered(acked []int64) bool {
	for _, rc := range r.receivers {
		rc.mu.Lock()
		c := Check(rc.seqs, rc.holes, acked)
		rc.mu.Unlock()
		if c.Lost > 0 {
			return false
		}
	}
	return true
}

func (r *run) close() {
	for _, rc := range r.receivers {
		if rc.goClient != nil {
			_ = rc.goClient.Close()
		}
	}
	if r.js != nil {
		r.js.kill()
	}
	for _, rc := range r.receivers {
		_ = rc.proxy.Close()
	}
}

// Delivery is what one subscription's stream shows against the
// acknowledged seqs of its channel.
type Delivery struct {
	Deliveries, Lost, Duplicated, OutOfOrder, Unreported int
	// LostSeqs are the first few acknowledged seqs the stream never
	// delivered, for the log line of a failing run.
	LostSeqs []int64
}

// maxLostSeqs bounds Delivery.LostSeqs.
const maxLostSeqs = 5

// Check counts one stream: every acked seq must arrive once, in strictly
// increasing order; a seq skipped without a reported discontinuity is an
// unreported hole (and lost). A seq inside a reported hole that never
// arrived is lost too: it is for the caller to say whether a hole may
// swallow a message (past retention) or not. The liveness proof and the
// SDK reliability proof both count with it.
func Check(seqs []int64, holes [][2]int64, acked []int64) Delivery {
	d := Delivery{Deliveries: len(seqs)}
	seen := map[int64]int{}
	var prev int64
	for _, s := range seqs {
		seen[s]++
		if seen[s] > 1 {
			d.Duplicated++
		}
		if s <= prev {
			d.OutOfOrder++
		}
		prev = max(prev, s)
	}
	for _, s := range acked {
		if seen[s] > 0 {
			continue
		}
		d.Lost++
		if len(d.LostSeqs) < maxLostSeqs {
			d.LostSeqs = append(d.LostSeqs, s)
		}
		covered := false
		for _, h := range holes {
			covered = covered || h[0] <= s && s <= h[1]
		}
		if !covered && s <= prev {
			d.Unreported++
		}
	}
	return d
}

// jsSide is the Node.js process running the JavaScript receivers.
type jsSide struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	lines     chan map[string]any
	byUser    map[string]*receiver
	stats     map[string]jsStats
	stderr    *testkit.Buffer
	waitErr   chan error
	closeOnce sync.Once
}

type jsStats struct {
	Reconnects int64 `json:"reconnects"`
	Silent     int64 `json:"silent"`
}

// startJS starts the script with one receiver per rc and waits until each
// has joined.
func (r *run) startJS(ctx context.Context, rcs []*receiver) (*jsSide, error) {
	if r.cfg.Node == "" || r.cfg.Script == "" {
		return nil, errors.New("liveproof: JavaScript receivers need Node and Script")
	}
	proxies, tokens := map[string]string{}, map[string]string{}
	for _, rc := range rcs {
		tok, err := r.e.Token(ctx, rc.user)
		if err != nil {
			return nil, err
		}
		proxies[rc.user], tokens[rc.user] = rc.proxy.Addr(), tok
	}
	in, _ := json.Marshal(map[string]any{"url": r.e.WebSocketURL, "proxies": proxies, "tokens": tokens, "channel": channel,
		"heartbeatIntervalMs": r.cfg.HeartbeatInterval.Milliseconds(), "heartbeatTimeoutMs": r.cfg.HeartbeatTimeout.Milliseconds()})
	cmd := exec.CommandContext(ctx, r.cfg.Node, r.cfg.Script, string(in))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	j := &jsSide{cmd: cmd, stdin: stdin, lines: make(chan map[string]any, 4096), byUser: map[string]*receiver{},
		stats: map[string]jsStats{}, stderr: &testkit.Buffer{}, waitErr: make(chan error, 1)}
	cmd.Stderr = j.stderr
	for _, rc := range rcs {
		j.byUser[rc.user] = rc
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				j.onLine(m)
			}
		}
		close(j.lines)
		j.waitErr <- cmd.Wait()
	}()
	select {
	case m, ok := <-j.lines:
		if !ok || m["ev"] != "ready" {
			return nil, fmt.Errorf("liveproof.mjs did not start: %v\n%s", m, j.stderr.String())
		}
	case <-time.After(2 * time.Minute):
		j.kill()
		return nil, fmt.Errorf("liveproof.mjs not ready in 2 min:\n%s", j.stderr.String())
	}
	return j, nil
}

// onLine handles state lines at once (their times matter) and queues the rest.
func (j *jsSide) onLine(m map[string]any) {
	if m["ev"] == "state" {
		user, _ := m["user"].(string)
		to, _ := m["to"].(string)
		at, _ := m["at"].(float64)
		if rc := j.byUser[user]; rc != nil {
			rc.stateChange(to, time.UnixMilli(int64(at)))
		}
		return
	}
	j.lines <- m
}

// finish sends the acked seqs and reads each receiver's deliveries.
func (j *jsSide) finish(ctx context.Context, acked []int64) error {
	cmd, _ := json.Marshal(map[string]any{"cmd": "finish", "acked": acked, "waitMs": 60_000})
	if _, err := fmt.Fprintf(j.stdin, "%s\n", cmd); err != nil {
		return fmt.Errorf("liveproof.mjs: %w\n%s", err, j.stderr.String())
	}
	for {
		select {
		case m, ok := <-j.lines:
			if !ok {
				return fmt.Errorf("liveproof.mjs ended without a result: %v\n%s", <-j.waitErr, j.stderr.String())
			}
			if m["ev"] != "result" {
				continue
			}
			b, _ := json.Marshal(m)
			var res struct {
				Delivered map[string]struct {
					Seqs  []int64    `json:"seqs"`
					Holes [][2]int64 `json:"holes"`
				} `json:"delivered"`
				Stats map[string]jsStats `json:"stats"`
			}
			if err := json.Unmarshal(b, &res); err != nil {
				return err
			}
			for user, d := range res.Delivered {
				if rc := j.byUser[user]; rc != nil {
					rc.mu.Lock()
					rc.seqs, rc.holes = d.Seqs, d.Holes
					rc.mu.Unlock()
				}
			}
			j.stats = res.Stats
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (j *jsSide) kill() {
	j.closeOnce.Do(func() {
		_ = j.stdin.Close()
		if j.cmd.Process != nil {
			_ = j.cmd.Process.Kill()
		}
	})
}
