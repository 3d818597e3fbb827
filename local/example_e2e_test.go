package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/modroot"
)

// shopTemplate is the template of examples/shop, another team's CDK app
// that embeds the wschatcdk construct next to its own orders function.
func shopTemplate(t *testing.T) string {
	t.Helper()
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "examples", "shop", "cdk.out", "Shop.template.json")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run make example first (make test does)", path)
	}
	return path
}

// TestShopExample runs another app's template: the emulator builds the
// chat's handlers and the shop's own orders function from the shop's
// module (examples/shop/go.mod, which resolves github.com/wschat/wschat to
// this checkout), the orders function publishes through the chat's publish
// API with the grant the shop's stack gave it, and a WebSocket member of
// the channel receives the message.
func TestShopExample(t *testing.T) {
	e := startEmulator(t, "--template", shopTemplate(t))
	for _, want := range []string{"orders", "chat", "publish"} {
		if !strings.Contains(e.log.String(), " "+want+" ") {
			t.Errorf("the emulator's output does not name the function %s:\n%s", want, e.log)
		}
	}
	ann := connectAs(t, e, "ann")
	ann.join(t, "orders")
	client := &http.Client{Timeout: 30 * time.Second}
	ordersURL := e.baseURL + httpAPIPrefix + "/v1/orders"

	place := func(t *testing.T, body string) (int, map[string]any) {
		t.Helper()
		resp, err := signedPost(client, ordersURL, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var got map[string]any
		_ = json.Unmarshal(b, &got)
		return resp.StatusCode, got
	}

	status, got := place(t, `{"id":"A-1001","item":"coffee beans"}`)
	if status != http.StatusAccepted || got["channel"] != "orders" {
		t.Fatalf("POST /orders = %d %v, want 202 on channel orders", status, got)
	}
	msg := ann.expect(t, "message", map[string]any{"channel": "orders", "seq": got["seq"]})
	if msg["text"] != "order A-1001 placed: coffee beans" {
		t.Errorf("member got %v, want the order's announcement", msg)
	}
	t.Logf("orders → publish API → ann: seq %v, %q from %v", msg["seq"], msg["text"], msg["userName"])

	// The publish API is idempotent per order id: a retried order gets the
	// same seq and no second message in history. In a channel this small
	// the retry is fanned out again (issue #23): the same seq, which a
	// client drops.
	if status, again := place(t, `{"id":"A-1001","item":"coffee beans"}`); status != http.StatusAccepted || fmt.Sprint(again["seq"]) != fmt.Sprint(got["seq"]) {
		t.Errorf("retried order = %d %v, want 202 with seq %v", status, again, got["seq"])
	}
	ann.expect(t, "message", map[string]any{"seq": got["seq"]})
	// A bad order is refused by the orders function, and nothing is published.
	if status, bad := place(t, `{"id":"no spaces allowed","item":"x"}`); status != http.StatusBadRequest {
		t.Errorf("bad order = %d %v, want 400", status, bad)
	}
	ann.quiet(t, "message")
	// The chat's own side still works in the embedded layer: members may
	// read the channel (DefaultChannels "orders=r") but not write to it.
	ann.send(t, map[string]any{"action": "send", "channel": "orders", "text": "hi", "clientId": "c1"})
	ann.expect(t, "error", map[string]any{"code": "forbidden", "channel": "orders"})
}
