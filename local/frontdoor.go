package main

import (
	"net/http"
	"slices"
	"strings"

	"github.com/wschat/wschat/internal/localissuer"
	"github.com/wschat/wschat/internal/loopback"
	"github.com/wschat/wschat/local/httpapi"
)

// frontDoor guards the emulator's one port (WebSocket API, @connections,
// HTTP APIs, issuer, admin endpoint, chat page) against web pages other
// than its own (see internal/loopback for the attacks):
//
//   - Host must be 127.0.0.1, localhost or [::1] with the emulator's port,
//     or one of --allow-host: a DNS-rebound page carries its own hostname;
//   - an Origin, when there is one, must be the emulator's own page (any
//     allowed host, http://) or one of --allow-origin. That covers the
//     WebSocket upgrade (API Gateway does not check Origin; a page of
//     another site must not open connections with the developer's tokens)
//     and every other request; tools send no Origin;
//   - POST /local-issuer/token mints only for an allowed Origin (the page)
//     or for a tool that sends the run's secret (make token);
//   - /@admin/ and @connections are SigV4-signed with the local credentials
//     (see serve), which a cross-origin page cannot send without a CORS
//     preflight, and a preflight is refused here.
//
// An allowed foreign origin (--allow-origin, for a page served by another
// dev server) gets CORS answers on the token endpoint, so that page can
// mint; nothing else ever gets CORS headers.
type frontDoor struct {
	hosts   loopback.Hosts
	origins []string // the page's own origins, then --allow-origin
	foreign []string // --allow-origin only
	secret  string
	log     func(loopback.Refusal)
	next    http.Handler
}

func newFrontDoor(endpoint string, allowHosts, allowOrigins []string, secret string, log func(loopback.Refusal), next http.Handler) *frontDoor {
	hosts := loopback.LocalHosts(endpoint, allowHosts...)
	d := &frontDoor{hosts: hosts, origins: hosts.Origins(), secret: secret, log: log, next: next}
	for _, o := range allowOrigins {
		o = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(o)), "/")
		if o != "" && !slices.Contains(d.origins, o) {
			d.origins = append(d.origins, o)
			d.foreign = append(d.foreign, o)
		}
	}
	return d
}

const tokenPath = issuerPath + "/token"

func (d *frontDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if reason := d.refusal(r); reason != "" {
		if d.log != nil {
			d.log(loopback.Refusal{Listener: "the emulator's port", Reason: reason, Method: r.Method, Path: r.URL.Path})
		}
		loopback.Refuse(w, reason)
		return
	}
	if r.URL.Path == tokenPath {
		if o := r.Header.Get("Origin"); slices.Contains(d.foreign, strings.ToLower(o)) {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "POST")
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
	}
	d.next.ServeHTTP(w, r)
}

// refusal says why r is refused, "" when it may pass.
func (d *frontDoor) refusal(r *http.Request) string {
	if !d.hosts.Allowed(r.Host) {
		return "Host " + quoteShort(r.Host) + " is not this emulator's (DNS rebinding?); open " + d.origins[0] + "/ or pass --allow-host"
	}
	origin, hasOrigin := r.Header["Origin"]
	allowed := hasOrigin && len(origin) == 1 && slices.Contains(d.origins, strings.ToLower(origin[0]))
	if hasOrigin && !allowed {
		return "a page of another origin (" + quoteShort(strings.Join(origin, ",")) + ") may not use the emulator; pass --allow-origin to allow one"
	}
	if r.Method == http.MethodOptions && !(allowed && r.URL.Path == tokenPath) {
		return "CORS preflight: the emulator serves its own page only"
	}
	if r.URL.Path == tokenPath && r.Method == http.MethodPost && !allowed {
		switch {
		case loopback.FromBrowser(r) != "":
			return "the local issuer mints tokens for the emulator's own page and for tools, not for other web pages"
		case !localissuer.HasSecret(r, d.secret):
			return "the local issuer mints tokens for the emulator's own page, and for tools that send this run's secret " +
				"(Authorization: Bearer <the issuerSecret of the ready file, or the issuer secret file>); make token does"
		}
	}
	return ""
}

// signedAdmin wraps the admin endpoint: every call must be SigV4-signed
// with the local credentials (service execute-api, the emulator's region),
// as @connections calls are.
func (e *session) signedAdmin(next http.Handler) http.Handler {
	v := e.verifier()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := httpapi.ReadBody(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := v.Verify(r, body); err != nil {
			httpapi.Deny(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, s) + `"`
}
