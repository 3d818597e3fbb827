package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/modroot"
)

// TestPageServesTheClientModule checks that the emulator serves the chat
// page and, next to it, the very JavaScript client of client/js, with MIME
// types a browser accepts for ES modules.
func TestPageServesTheClientModule(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mountPage(mux, pageConfig{WebSocketURL: "ws://127.0.0.1:1/dev", TokenURL: "/issuer/token", Stage: "dev", Environment: "dev"})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		path, wantType, sameAs string
	}{
		{"/", "text/html", "local/web/index.html"},
		{"/local/app.js", "text/javascript", "local/web/app.js"},
		{"/client/wschat.js", "text/javascript", "client/js/wschat.js"},
		{"/client/wschat.d.ts", "", "client/js/wschat.d.ts"},
		{"/local/config.json", "application/json", ""},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", tt.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tt.wantType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, got, tt.wantType)
		}
		if tt.sameAs == "" {
			continue
		}
		want, err := os.ReadFile(filepath.Join(root, tt.sameAs))
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != string(want) {
			t.Errorf("GET %s: %d bytes, differs from %s (%d bytes)", tt.path, len(body), tt.sameAs, len(want))
		}
	}
	for _, path := range []string{"/client/embed.go", "/client/wschat.test.js", "/client/fakeserver.js"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404: only the module and its declarations are served", path, resp.StatusCode)
		}
	}
}

// TestPageHasNoProtocolLogic keeps the chat page a view of the client
// module: frames, sockets and retries belong to client/js/wschat.js.
func TestPageHasNoProtocolLogic(t *testing.T) {
	src, err := webFiles.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	code := string(src)
	if !strings.Contains(code, `from "/client/wschat.js"`) {
		t.Errorf("app.js does not import /client/wschat.js")
	}
	// The test hooks may look at a frame's type; building frames, opening
	// sockets, timers and seq bookkeeping are the module's.
	for _, banned := range []string{"action:", ".send(JSON", "new WebSocket(", "setInterval(", "setTimeout(", "lastSeq", "after:"} {
		if strings.Contains(code, banned) {
			t.Errorf("app.js contains %q: protocol logic belongs in client/js/wschat.js", banned)
		}
	}
}
