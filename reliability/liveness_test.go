package reliability

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/wschat/wschat/internal/badnet"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/liveproof"
)

// detectWithin is the SDKs' promise: a blackholed connection is found
// within 30 s with the default heartbeat (18 s + 8 s, docs/client.md).
const detectWithin = 30 * time.Second

// TestReliabilityHostileNetwork is the liveness proof (issue #24): Go and
// JavaScript receivers, each through its own hostile-network proxy with
// latency and jitter, get a channel's messages while most of their
// connections are blackholed at once (no FIN, no RST), one per SDK is reset,
// one paused for 5 s and one throttled. With the SDKs' default heartbeat,
// every blackholed connection must be found within 30 s (p99 over at least
// 20 per SDK), the server must drop it (its reconnect names it), and every
// receiver must get every acknowledged message once, in order.
func TestReliabilityHostileNetwork(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the JavaScript receivers: %v", err)
	}
	receivers, blackholes := 23, 20
	if soak {
		receivers, blackholes = 60, 56
	}
	e := startEmulator(t, emutest.Options{PostLatency: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	figs, err := liveproof.Run(ctx, liveproof.Config{
		Emulator:    e,
		GoReceivers: receivers, JSReceivers: receivers, Blackholes: blackholes,
		Pause: 5 * time.Second, Bandwidth: 32 << 10,
		Shape:     badnet.Shape{Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond},
		SendEvery: 250 * time.Millisecond, Spread: 3 * time.Second,
		Node: node, Script: filepath.Join(root, "reliability", "testdata", "liveproof.mjs"),
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, sdk := range []string{"go", "js"} {
		f := figs[sdk]
		if f == nil {
			t.Fatalf("no figures for %s", sdk)
		}
		t.Logf("FIGURES liveness-%s: %s", sdk, f)
		checkLiveness(t, sdk, f, blackholes)
	}
}

func checkLiveness(t *testing.T, sdk string, f *liveproof.Figures, blackholes int) {
	t.Helper()
	if f.Acked == 0 || f.Lost != 0 || f.Duplicated != 0 || f.OutOfOrder != 0 || f.Holes != 0 {
		t.Errorf("%s: want acked messages, 0 lost, 0 duplicated, 0 out of order, 0 unreported holes: %s", sdk, f)
	}
	for _, k := range []badnet.Kind{badnet.KindBlackhole, badnet.KindReset, badnet.KindPause, badnet.KindLatency, badnet.KindBandwidth} {
		if f.Faults[k] == 0 {
			t.Errorf("%s: fault %s never happened: %s", sdk, k, f)
		}
	}
	det := f.Detect[badnet.KindBlackhole]
	if len(det) != blackholes || f.Undetected(badnet.KindBlackhole) != 0 {
		t.Errorf("%s: %d of %d blackholed connections found (%d never): %s", sdk, len(det), blackholes, f.Undetected(badnet.KindBlackhole), f)
	}
	if p99 := liveproof.P(det, .99); p99 > detectWithin {
		t.Errorf("%s: blackhole detection p99 %v, want within %v: %s", sdk, p99, detectWithin, f)
	}
	if len(f.Detect[badnet.KindReset]) != 1 {
		t.Errorf("%s: the reset connection was not replaced: %s", sdk, f)
	}
	// A 5 s pause is shorter than the heartbeat timeout: the connection
	// must survive it, and the throttled one its cap.
	if f.Survived[badnet.KindPause] != 1 || f.Survived[badnet.KindBandwidth] != 1 {
		t.Errorf("%s: a pause of 5 s or a bandwidth cap cost a reconnect: %s", sdk, f)
	}
	if len(f.Dropped) != blackholes+1 {
		t.Errorf("%s: the server dropped %d of %d dead connections: %s", sdk, len(f.Dropped), blackholes+1, f)
	}
}

// TestReliabilityHalfOpenUntilIdleCut: the emulator treats a client whose
// network went silent (no FIN, no RST) as API Gateway does: its connection
// stays registered and @connections posts to it answer 200 (the bytes go
// nowhere) until the idle cut, 10 minutes after its last message on AWS
// (--idle-timeout here); then posts answer 410 and its membership goes
// (by $disconnect, which announces `left`, or first by the fan-out's 410
// cleanup, which does not). A client that comes back is dropped sooner (its
// reconnect names the old connection: TestReliabilityHostileNetwork).
func TestReliabilityHalfOpenUntilIdleCut(t *testing.T) {
	const idle = 4 * time.Second
	e := startEmulator(t, emutest.Options{Args: []string{"--idle-timeout", idle.String()}})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	host := strings.TrimPrefix(e.BaseURL, "http://")
	proxy, err := badnet.Listen(host, badnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// dial connects user, through the proxy when via is true (the client
	// still addresses the emulator).
	dial := func(user string, via bool) *emutest.Client {
		tok, err := e.Token(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		opts := emutest.ClientOptions{Record: true}
		if via {
			opts.Transport = &http.Transport{DialContext: proxy.DialContext}
		}
		c, err := emutest.Dial(ctx, e.DialURL(tok), user, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		return c
	}
	bystander := dial("halfopen-b", false)
	if err := bystander.Join(ctx, "halfopen"); err != nil {
		t.Fatal(err)
	}
	lastSent := time.Now() // before the silent client's last message: the idle cut comes after lastSent+idle
	silent := dial("halfopen-a", true)
	if err := silent.Join(ctx, "halfopen"); err != nil {
		t.Fatal(err)
	}
	table, err := e.TableName()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := emutest.ConnectionIDs(ctx, dynamotest.Client(e.DynamoDB), table)
	if err != nil || len(ids["halfopen-a"]) != 1 {
		t.Fatalf("connection of halfopen-a: %v, %v", ids["halfopen-a"], err)
	}
	id := ids["halfopen-a"][0]
	proxy.Healthy().Blackhole()
	blackholed := time.Now()

	mgmt := managementClient(e)
	db := dynamotest.Client(e.DynamoDB)
	var okPosts, okBeforeCut int
	var firstGone, removedAt, leftAt time.Time
	for i := 0; time.Since(blackholed) < 30*time.Second && (firstGone.IsZero() || removedAt.IsZero()); i++ {
		_, err := mgmt.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(id), Data: []byte(`{"type":"notice","text":"into the void"}`)})
		done := time.Now()
		switch {
		case err == nil && firstGone.IsZero():
			okPosts++
			if done.Before(lastSent.Add(idle - time.Second)) {
				okBeforeCut++
			}
		case err != nil && strings.Contains(err.Error(), "GoneException"):
			if firstGone.IsZero() {
				firstGone = done
			}
		case err != nil:
			t.Fatalf("post to the silent connection: %v", err)
		}
		if i%4 == 0 { // the bystander stays active (its own idle timer) and sends through the fan-out
			if _, err := bystander.Send(ctx, "halfopen", fmt.Sprintf("hello %d", i), fmt.Sprintf("b-%d", i)); err != nil {
				t.Fatalf("bystander send: %v", err)
			}
		}
		if leftAt.IsZero() && slices.ContainsFunc(bystander.Frames(), func(f emutest.Frame) bool {
			return f.Type == "left" && f.UserID == "halfopen-a"
		}) {
			leftAt = time.Now()
		}
		if n, err := emutest.ItemsOf(ctx, db, table, id); err == nil && n == 0 && removedAt.IsZero() {
			removedAt = time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
	left := "not announced (the fan-out's 410 cleanup came first)"
	if !leftAt.IsZero() {
		left = fmt.Sprintf("announced after %.1fs", leftAt.Sub(lastSent).Seconds())
	}
	t.Logf("FIGURES half-open: %d posts answered 200 after the blackhole (%d before the idle cut was due), first 410 after %.1fs, membership removed after %.1fs, left %s (idle timeout %v after the last message)",
		okPosts, okBeforeCut, firstGone.Sub(lastSent).Seconds(), removedAt.Sub(lastSent).Seconds(), left, idle)
	if okBeforeCut == 0 {
		t.Errorf("no post to the silent connection answered 200 before the idle cut: a half-open client must look connected until then")
	}
	if firstGone.IsZero() || firstGone.Before(lastSent.Add(idle)) {
		t.Errorf("first 410 at %v after the last message, want after the idle cut (%v)", firstGone.Sub(lastSent), idle)
	}
	if removedAt.IsZero() {
		t.Errorf("the silent connection's items are still stored 30 s after the blackhole")
	}
}

func managementClient(e *emutest.Emulator) *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(e.CallbackURL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}
