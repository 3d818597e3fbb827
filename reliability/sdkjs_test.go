package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/client"
	"github.com/wschat/wschat/wire"
)

// TestReliabilityClientSDKJavaScript is the smaller JavaScript version of
// the SDK proof: the client of client/js runs under Node.js (the ws package
// from node_modules) in a subprocess (testdata/sdkproof.mjs) against the
// emulator, each client through its own hostile-network proxy, while this
// test kills its connections through DELETE @connections/{id}, blackholes
// others, crashes chat handler instances, and the emulator cuts every
// connection after a few seconds. The script reports what was
// acknowledged and delivered; the checks and the figure line are the Go
// proof's.
func TestReliabilityClientSDKJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the JavaScript client proof: %v", err)
	}
	size := sdkSize{senders: 2, receivers: 2, channels: 2, perSender: 30, lifetime: 4 * time.Second}
	if soak {
		size = sdkSize{senders: 4, receivers: 4, channels: 3, perSender: 200, lifetime: 5 * time.Second}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	run := startSDKEmulator(ctx, t, size, "js")
	tokens := map[string]string{}
	for _, user := range run.names {
		tok, err := run.e.Token(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		tokens[user] = tok
	}
	proxies := map[string]string{}
	for i, user := range run.names {
		proxies[user] = run.proxies[i].Addr()
	}
	in, _ := json.Marshal(map[string]any{
		"url": run.e.WebSocketURL, "proxies": proxies, "tokens": tokens, "heartbeatMs": sdkHeartbeat.Milliseconds(),
		"senders": run.names[:size.senders], "receivers": run.names[size.senders:],
		"channels": run.channels, "perSender": size.perSender,
		"maxLifetimeMs": (size.lifetime * 3 / 5).Milliseconds(), "waitMs": 90_000,
	})
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "reliability", "testdata", "sdkproof.mjs"), string(in))
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	faults := run.startFaults(ctx, t, faultKill, faultBlackhole, faultCrash)
	err = cmd.Run()
	faults.stop()
	if err != nil {
		t.Fatalf("node sdkproof.mjs: %v\n%s", err, stderr.String())
	}
	var out struct {
		Acked     map[string][]int64 `json:"acked"`
		Failed    int                `json:"failed"`
		Delivered map[string]map[string]struct {
			Seqs  []int64    `json:"seqs"`
			Holes [][2]int64 `json:"holes"`
		} `json:"delivered"`
		Stats map[string]struct {
			Reconnects int64 `json:"reconnects"`
			Handovers  int64 `json:"handovers"`
		} `json:"stats"`
		Life struct {
			Edits, Deletes, Reacts, Unreacts, Replies, Refused, Unchanged int
		} `json:"life"`
		States map[string]map[string][]struct {
			Seq       int64           `json:"seq"`
			Text      string          `json:"text"`
			Deleted   bool            `json:"deleted"`
			Replies   int64           `json:"replies"`
			Reactions []wire.Reaction `json:"reactions"`
		} `json:"states"`
	}
	if err := json.Unmarshal(lastLine(stdout.Bytes()), &out); err != nil {
		t.Fatalf("sdkproof.mjs output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if out.Failed > 0 {
		t.Errorf("%d sends were rejected (each reported to its caller)", out.Failed)
	}
	fig := sdkFigures{faults: faults.counts()}
	for ch := range out.Acked {
		fig.acked += len(out.Acked[ch])
	}
	for user, chans := range out.Delivered {
		for ch, d := range chans {
			got := checkDelivery(&delivery{seqs: d.Seqs, holes: d.Holes}, out.Acked[ch])
			if got.lost+got.duplicated+got.outOfOrder+got.unreported > 0 {
				t.Logf("%s in %s: %s; first lost seqs %v", user, ch, got, got.lostSeqs)
			}
			fig.deliveries += got.deliveries
			fig.lost += got.lost
			fig.duplicated += got.duplicated
			fig.outOfOrder += got.outOfOrder
			fig.discontinuities += got.discontinuities
			fig.unreported += got.unreported
		}
		fig.reconnects += out.Stats[user].Reconnects
		fig.handovers += out.Stats[user].Handovers
	}
	l := out.Life
	fig.life = &lifeTally{edits: l.Edits, deletes: l.Deletes, reacts: l.Reacts, unreacts: l.Unreacts, replies: l.Replies,
		refused: l.Refused, unchanged: l.Unchanged}
	fig.checked, fig.diverged = converge(ctx, t, run.e, run.names, run.channels, func(i int, ch string) []client.Message {
		var ms []client.Message
		for _, st := range out.States[run.names[i]][ch] {
			m := client.Message{Seq: st.Seq, Text: st.Text, Deleted: st.Deleted, Replies: st.Replies}
			for _, r := range st.Reactions {
				m.Reactions = append(m.Reactions, client.Reaction{Emoji: r.Emoji, Count: r.Count, Mine: r.Mine})
			}
			ms = append(ms, m)
		}
		return ms
	})
	t.Logf("FIGURES sdk-js: %s", fig)
	if len(out.Delivered) != len(run.names) {
		t.Errorf("the script reported %d clients, want %d", len(out.Delivered), len(run.names))
	}
	if fig.lost != 0 || fig.duplicated != 0 || fig.outOfOrder != 0 || fig.unreported != 0 || fig.diverged != 0 {
		t.Errorf("want 0 lost, 0 duplicated, 0 out of order, 0 unreported holes, 0 states diverged; got %s", fig)
	}
	if l.Edits == 0 || l.Deletes == 0 || l.Reacts == 0 || l.Replies == 0 || fig.checked == 0 {
		t.Errorf("want edits, deletes, reactions and replies acked and states checked; got %s", fig)
	}
	if fig.acked == 0 || fig.reconnects == 0 || fig.handovers == 0 {
		t.Errorf("want acked messages, reconnects and handovers; got %s", fig)
	}
	for name, n := range fig.faults {
		if n == 0 {
			t.Errorf("fault %q never happened: %s", name, fig)
		}
	}
}

// lastLine is the last non-empty line of b.
func lastLine(b []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return []byte(lines[len(lines)-1])
}
