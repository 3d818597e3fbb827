package loopback

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestToolsOnly(t *testing.T) {
	served := 0
	var refusals []Refusal
	h := ToolsOnly("test", LocalHosts("127.0.0.1:4000", "Proxy.Example:80"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
	}), func(r Refusal) { refusals = append(refusals, r) })
	cases := []struct {
		name, method, host string
		header             map[string]string
		want               int
	}{
		{"a tool", "POST", "127.0.0.1:4000", nil, 200},
		{"localhost", "GET", "localhost:4000", nil, 200},
		{"IPv6 loopback", "GET", "[::1]:4000", nil, 200},
		{"an allowed proxy host, any case", "GET", "proxy.example:80", nil, 200},
		{"another port", "GET", "127.0.0.1:4001", nil, 403},
		{"a rebound name", "POST", "evil.example:4000", nil, 403},
		{"no port", "GET", "localhost", nil, 403},
		{"a preflight", "OPTIONS", "127.0.0.1:4000", map[string]string{"Origin": "http://evil.example"}, 403},
		{"a cross-origin fetch", "POST", "127.0.0.1:4000", map[string]string{"Origin": "http://evil.example"}, 403},
		{"an image tag", "GET", "127.0.0.1:4000", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}, 403},
		{"an old browser's link", "GET", "127.0.0.1:4000", map[string]string{"Referer": "http://evil.example/"}, 403},
		{"a same-origin page", "GET", "127.0.0.1:4000", map[string]string{"Sec-Fetch-Site": "same-origin"}, 403},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(tc.method, "http://x/", nil)
		r.Host = tc.host
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, w.Code, w.Body.String(), tc.want)
		}
		if w.Code == 403 && (!strings.HasPrefix(w.Body.String(), "refused: ") || w.Header().Get("Access-Control-Allow-Origin") != "") {
			t.Errorf("%s: refusal %q with headers %v, want a plain reason and no CORS header", tc.name, w.Body.String(), w.Header())
		}
	}
	if served != 4 || len(refusals) != 8 {
		t.Errorf("served %d, refused %d; want 4 and 8", served, len(refusals))
	}
}

func TestLimiterHoldsRepeats(t *testing.T) {
	var lines []string
	l := NewLimiter(func(s string) { lines = append(lines, s) })
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	r := Refusal{Listener: "DynamoDB", Reason: "from a page", Method: "POST", Path: "/"}
	for range 100 {
		l.Log(r)
	}
	l.Log(Refusal{Listener: "SQS", Reason: "from a page", Method: "POST", Path: "/"})
	now = now.Add(2 * time.Second)
	l.Log(r)
	if len(lines) != 3 || !strings.HasSuffix(lines[2], "(and 99 more like it)") {
		t.Errorf("lines = %q, want 3: the first, SQS's, and one that counts the 99 held back", lines)
	}
	var nilLimiter *Limiter
	nilLimiter.Log(r) // a nil limiter logs nothing, and does not panic
}
