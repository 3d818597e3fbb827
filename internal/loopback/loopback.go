// Package loopback keeps web pages away from the emulator's loopback
// listeners. Binding 127.0.0.1 stops other machines, not the developer's
// own browser: any page it shows can send requests to 127.0.0.1:PORT (a
// fetch, a form, an image), and through DNS rebinding (a hostname of the
// page's own that later resolves to 127.0.0.1) even read the answers, since
// the browser then considers the listener the page's own origin. Two marks
// give such requests away, whatever their path:
//
//   - the Host header: a rebound request carries the page's hostname, never
//     127.0.0.1, localhost or [::1] with the listener's port (Hosts);
//   - browser headers: a browser adds Origin to every cross-origin request
//     and every POST, and Sec-Fetch-Site/-Mode/-Dest (and usually Referer)
//     to every request; the SDKs and tools that talk to these listeners
//     send none of them (FromBrowser).
//
// Vite, webpack-dev-server and Jupyter closed the same hole the same way.
// Like local/gateway the package is generic: it knows listeners, not
// wschat.
package loopback

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Hosts is the set of Host header values a listener answers.
type Hosts struct {
	allowed []string
}

// LocalHosts are the loopback names of the listener at addr (host:port):
// 127.0.0.1, localhost and [::1], each with the port, plus extra values
// (host:port, as a client behind a proxy sends them).
func LocalHosts(addr string, extra ...string) Hosts {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		port = addr
	}
	h := Hosts{allowed: []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port}}
	for _, e := range extra {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" && !slices.Contains(h.allowed, e) {
			h.allowed = append(h.allowed, e)
		}
	}
	return h
}

// Allowed reports whether host (a request's Host) is one of the set,
// compared case-insensitively as DNS names are.
func (h Hosts) Allowed(host string) bool {
	return slices.Contains(h.allowed, strings.ToLower(host))
}

// List is the set, for messages and the banner.
func (h Hosts) List() []string { return slices.Clone(h.allowed) }

// Origins are the origins of pages the listener serves itself:
// http://<host> for each allowed host.
func (h Hosts) Origins() []string {
	out := make([]string, len(h.allowed))
	for i, a := range h.allowed {
		out[i] = "http://" + a
	}
	return out
}

// browserHeaders are added by browsers and by nothing that is meant to
// call a tools-only listener.
var browserHeaders = []string{"Origin", "Referer", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest"}

// FromBrowser names the first browser header r carries ("" when none):
// such a request comes from a web page.
func FromBrowser(r *http.Request) string {
	for _, h := range browserHeaders {
		if _, ok := r.Header[h]; ok {
			return h
		}
	}
	return ""
}

// Refusal says why a request was refused; Log receives each (rate-bounded).
type Refusal struct {
	Listener string // as given to ToolsOnly
	Reason   string
	Method   string
	Path     string
}

// ToolsOnly serves next only to tools on this machine: a request whose Host
// is not in hosts, that carries a browser header, or that is a CORS
// preflight (OPTIONS) is answered 403 with a plain-text reason and never
// reaches next. There are no CORS headers, ever, so a page cannot read even
// the refusal. log, when not nil, gets one call per refusal (see Limiter).
func ToolsOnly(listener string, hosts Hosts, next http.Handler, log func(Refusal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := ""
		switch {
		case !hosts.Allowed(r.Host):
			reason = fmt.Sprintf("Host %q is not this machine's loopback address (DNS rebinding?); use %s", r.Host, hosts.allowed[0])
		case r.Method == http.MethodOptions:
			reason = "CORS preflight: this listener is for tools, never for web pages"
		case FromBrowser(r) != "":
			reason = fmt.Sprintf("request from a web page (it carries %s): this listener is for tools, never for web pages", FromBrowser(r))
		}
		if reason == "" {
			next.ServeHTTP(w, r)
			return
		}
		if log != nil {
			log(Refusal{Listener: listener, Reason: reason, Method: r.Method, Path: r.URL.Path})
		}
		Refuse(w, reason)
	})
}

// Refuse answers 403 with reason as plain text.
func Refuse(w http.ResponseWriter, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	_, _ = fmt.Fprintln(w, "refused: "+reason)
}

// Limiter passes at most one refusal a second per listener and reason to
// print, with the count of those it held back: a page that hammers a
// listener cannot flood the terminal.
type Limiter struct {
	mu    sync.Mutex
	print func(line string)
	last  map[string]time.Time
	held  map[string]int
	now   func() time.Time
}

// NewLimiter returns a Limiter that prints through print.
func NewLimiter(print func(line string)) *Limiter {
	return &Limiter{print: print, last: map[string]time.Time{}, held: map[string]int{}, now: time.Now}
}

// Log prints r unless one like it was printed less than a second ago.
func (l *Limiter) Log(r Refusal) {
	if l == nil {
		return
	}
	key := r.Listener + "\x00" + r.Reason
	l.mu.Lock()
	now := l.now()
	if now.Sub(l.last[key]) < time.Second {
		l.held[key]++
		l.mu.Unlock()
		return
	}
	held := l.held[key]
	l.last[key], l.held[key] = now, 0
	if len(l.last) > 1000 {
		clear(l.last)
		clear(l.held)
	}
	l.mu.Unlock()
	line := fmt.Sprintf("refused %s %s on %s: %s", r.Method, r.Path, r.Listener, r.Reason)
	if held > 0 {
		line += fmt.Sprintf(" (and %d more like it)", held)
	}
	l.print(line)
}
