package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wschat/wschat/internal/sigv4"
	"github.com/wschat/wschat/local/gateway"
)

// call sends one request to the emulator with the given headers ("Host"
// sets the Host) and returns the status and body.
func call(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != "" && header["Origin"] != "http://localhost:5173" {
		t.Errorf("%s %s: Access-Control-Allow-Origin %q on an answer to %v", method, url, acao, header)
	}
	return resp.StatusCode, string(b)
}

// TestFrontDoorRefusesOtherPages replays issue #25's findings 2 and 6
// against the emulator's port: a DNS-rebound page (Host evil.example), a
// page of another origin, and a tool without the run's secret are refused;
// the emulator's own page, tools with the secret and an --allow-origin page
// are served.
func TestFrontDoorRefusesOtherPages(t *testing.T) {
	e := startEmulator(t, append([]string{"--virtual-connections", "--allow-origin", "http://localhost:5173"}, testFnTemplate...)...)
	port := e.baseURL[strings.LastIndexByte(e.baseURL, ':')+1:]
	own := e.baseURL
	token := e.baseURL + tokenPath
	mint := `{"user":"ann","channels":"*"}`
	secret := "Bearer " + e.secret(t)
	cases := []struct {
		name, method, url, body string
		header                  map[string]string
		want                    int
	}{
		{"rebound Host mints", "POST", token, mint, map[string]string{"Host": "evil.example:" + port, "Origin": "http://evil.example:" + port}, 403},
		{"rebound Host with the secret", "POST", token, mint, map[string]string{"Host": "evil.example:" + port, "Authorization": secret}, 403},
		{"rebound Host reads the page", "GET", e.baseURL + "/", "", map[string]string{"Host": "evil.example:" + port}, 403},
		{"cross-origin mint", "POST", token, mint, map[string]string{"Origin": "http://evil.example"}, 403},
		{"cross-origin preflight", "OPTIONS", token, "", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, 403},
		{"null origin (sandboxed frame)", "POST", token, mint, map[string]string{"Origin": "null"}, 403},
		{"tool without the secret", "POST", token, mint, nil, 403},
		{"tool with a wrong secret", "POST", token, mint, map[string]string{"Authorization": "Bearer nope"}, 403},
		{"page without Origin but with browser marks", "POST", token, mint, map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": secret}, 403},
		{"unsigned admin POST", "POST", e.baseURL + gateway.VirtualPath + "?count=3", "", nil, 403},
		{"unsigned admin reset (an image tag)", "GET", e.baseURL + gateway.VirtualPath + "?reset=1", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		// Served:
		{"the page itself", "GET", e.baseURL + "/", "", nil, 200},
		{"the page mints", "POST", token, mint, map[string]string{"Origin": own, "Sec-Fetch-Site": "same-origin"}, 200},
		{"the page as localhost mints", "POST", strings.Replace(token, "127.0.0.1", "localhost", 1), mint, map[string]string{"Origin": strings.Replace(own, "127.0.0.1", "localhost", 1)}, 200},
		{"a tool with the secret mints", "POST", token, mint, map[string]string{"Authorization": secret}, 200},
		{"an --allow-origin page mints", "POST", token, mint, map[string]string{"Origin": "http://localhost:5173"}, 200},
		{"an --allow-origin preflight", "OPTIONS", token, "", map[string]string{"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}, 204},
		{"the JWKS (public)", "GET", e.baseURL + issuerPath + "/.well-known/jwks.json", "", nil, 200},
	}
	for _, tc := range cases {
		got, body := call(t, tc.method, tc.url, tc.body, tc.header)
		if got != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, got, body, tc.want)
		}
		if tc.want == 403 && strings.Contains(body, "token") && strings.Contains(body, "ey") {
			t.Errorf("%s: a token in a refusal: %q", tc.name, body)
		}
	}
	if !strings.Contains(e.log.String(), "[guard] refused POST "+tokenPath) {
		t.Errorf("no refusal logged:\n%s", e.log)
	}

	// The signed admin endpoint works; the count is bounded.
	req, _ := http.NewRequest(http.MethodPost, e.baseURL+gateway.VirtualPath+"?count=2", nil)
	if err := sigv4.Sign(req, nil, sigv4.Local, "execute-api", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("signed admin POST: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// WebSocket upgrades: another origin is refused before $connect runs;
	// no Origin (a tool) and the page's own are accepted.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for origin, want := range map[string]int{"http://evil.example": 403, "": 101, own: 101, "http://localhost:5173": 101} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := websocket.Dial(ctx, e.wsURL, &websocket.DialOptions{HTTPHeader: h})
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		if got != want {
			t.Errorf("upgrade with Origin %q: %d (%v), want %d", origin, got, err, want)
		}
		if c != nil {
			_ = c.CloseNow()
		}
	}
	if _, resp, _ := websocket.Dial(ctx, e.wsURL, &websocket.DialOptions{Host: "evil.example:" + port}); resp == nil || resp.StatusCode != 403 {
		t.Errorf("upgrade with a rebound Host: %v, want 403", resp)
	}
}
