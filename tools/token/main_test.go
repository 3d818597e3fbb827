package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/auth"
	"github.com/wschat/wschat/internal/localissuer"
)

// testSecret is the run secret of the issuers the tests serve, in
// secretFile, which every run below passes.
const testSecret = "s3cret"

var secretFile string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "token-test-")
	if err != nil {
		panic(err)
	}
	secretFile = filepath.Join(dir, "secret")
	if err := localissuer.WriteSecret(secretFile, testSecret); err != nil {
		panic(err)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// serveIssuer serves iss where the emulator mounts it, minting only for
// callers with testSecret as the emulator does, and returns the port.
func serveIssuer(t *testing.T, h http.Handler) int {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(issuerPath+"/", http.StripPrefix(issuerPath, h))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !localissuer.HasSecret(r, testSecret) {
			http.Error(w, "refused: tools must send this run's secret", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// freePort returns a port on which nothing listens (as far as it can tell).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

func TestRun(t *testing.T) {
	// Two issuers, as from two emulators of one checkout: a token must come
	// from the one on the port asked for.
	first, err := localissuer.New("http://127.0.0.1:1/local-issuer", "wschat-local")
	if err != nil {
		t.Fatal(err)
	}
	second, err := localissuer.New("http://127.0.0.1:2/local-issuer", "wschat-local")
	if err != nil {
		t.Fatal(err)
	}
	firstPort := strconv.Itoa(serveIssuer(t, first.Handler()))
	secondPort := strconv.Itoa(serveIssuer(t, second.Handler()))
	notIssuer := strconv.Itoa(serveIssuer(t, http.NotFoundHandler()))
	nobody := strconv.Itoa(freePort(t))

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
		wantIssuer *localissuer.Issuer
		wantUser   string
	}{
		{"mints at the first", []string{"-user", "ann", "-port", firstPort}, 0, "", first, "ann"},
		{"mints at the second", []string{"-user", "bob", "-name", "Bob", "-port", secondPort}, 0, "", second, "bob"},
		{"help", []string{"-help"}, 0, "Usage: token -user NAME", nil, ""},
		{"no user", []string{"-port", firstPort}, 2, "-user is required", nil, ""},
		{"stray argument", []string{"-user", "ann", "extra"}, 2, `unexpected argument "extra"`, nil, ""},
		{"bad port", []string{"-user", "ann", "-port", "70000"}, 2, "-port 70000 out of range", nil, ""},
		{"no emulator", []string{"-user", "ann", "-port", nobody}, 1, "no emulator listens on 127.0.0.1:" + nobody + ": start one with make dev (PORT=" + nobody + ")", nil, ""},
		{"not an emulator", []string{"-user", "ann", "-port", notIssuer}, 1, "404 Not Found without a token: is a wschat emulator listening", nil, ""},
		{"bad user", []string{"-user", "a b", "-port", firstPort}, 1, "the emulator on 127.0.0.1:" + firstPort + " refused: ", nil, ""},
		{"no secret", []string{"-user", "ann", "-port", firstPort, "-secret-file", "/nonexistent"}, 1, "refused: tools must send this run's secret (the secret: open /nonexistent", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(withSecret(tt.args), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if tt.wantIssuer == nil {
				if stdout.Len() != 0 {
					t.Errorf("stdout = %q, want nothing", stdout.String())
				}
				return
			}
			tok := strings.TrimSuffix(stdout.String(), "\n")
			if strings.Count(stdout.String(), "\n") != 1 || strings.Count(tok, ".") != 2 {
				t.Fatalf("stdout = %q, want one token line", stdout.String())
			}
			if got := verify(t, tt.wantIssuer, tok); got != tt.wantUser {
				t.Errorf("sub = %q, want %q", got, tt.wantUser)
			}
		})
	}
}

// withSecret adds -secret-file unless args name one.
func withSecret(args []string) []string {
	if slices.Contains(args, "-secret-file") {
		return args
	}
	return append([]string{"-secret-file", secretFile}, args...)
}

// verify checks tok against iss's own key and returns its subject.
func verify(t *testing.T, iss *localissuer.Issuer, tok string) string {
	t.Helper()
	jwks := httptest.NewServer(iss.JWKSHandler())
	defer jwks.Close()
	v, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, JWKSURL: jwks.URL, HTTPClient: jwks.Client()})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify against the issuer asked: %v", err)
	}
	return id.UserID
}

// TestRunChannels: -channels becomes the token's channels claim (make token
// CHANNELS=...); without it the token has none.
func TestRunChannels(t *testing.T) {
	iss, err := localissuer.New("http://127.0.0.1:1/local-issuer", "wschat-local")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(serveIssuer(t, iss.Handler()))
	jwks := httptest.NewServer(iss.JWKSHandler())
	defer jwks.Close()
	v, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, JWKSURL: jwks.URL, HTTPClient: jwks.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"-user", "ann", "-port", port}, 0, ""},
		{[]string{"-user", "ann", "-port", port, "-channels", "general,team-*"}, 0, "v1:general=rwpd team-*=rwpd"},
		{[]string{"-user", "ann", "-port", port, "-channels", ""}, 0, "v1:"},
		{[]string{"-user", "ann", "-port", port, "-channels", "Bad!"}, 1, ""},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(withSecret(tt.args), &stdout, &stderr); code != tt.wantCode {
			t.Fatalf("%v: exit %d, want %d (%s)", tt.args, code, tt.wantCode, stderr.String())
		}
		if tt.wantCode != 0 {
			continue
		}
		id, err := v.Verify(context.Background(), strings.TrimSpace(stdout.String()))
		if err != nil {
			t.Fatal(err)
		}
		if id.Channels != tt.want {
			t.Errorf("%v: channels %q, want %q", tt.args, id.Channels, tt.want)
		}
	}
}

// TestRunTTL: -ttl sets the token's lifetime (make token TOKEN_TTL=...);
// the issuer refuses one outside 1s-24h.
func TestRunTTL(t *testing.T) {
	iss, err := localissuer.New("http://127.0.0.1:1/local-issuer", "wschat-local")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(serveIssuer(t, iss.Handler()))
	jwks := httptest.NewServer(iss.JWKSHandler())
	defer jwks.Close()
	v, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, JWKSURL: jwks.URL, HTTPClient: jwks.Client()})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(withSecret([]string{"-user", "ann", "-port", port, "-ttl", "45s"}), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	id, err := v.Verify(context.Background(), strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := id.ExpiresAt.Sub(id.IssuedAt); got != 45*time.Second {
		t.Errorf("token lives %v, want 45s", got)
	}
	stderr.Reset()
	if code := run(withSecret([]string{"-user", "ann", "-port", port, "-ttl", "48h"}), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "ttl must be") {
		t.Errorf("-ttl 48h: exit %d, stderr %q; want 1 and the issuer's refusal", code, stderr.String())
	}
}
