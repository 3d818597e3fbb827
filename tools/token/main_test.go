package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"wschat/internal/auth"
	"wschat/internal/localissuer"
)

func TestRun(t *testing.T) {
	iss, err := localissuer.New("http://127.0.0.1:1", "wschat-local")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.JWKSHandler())
	t.Cleanup(srv.Close)
	keyFile := filepath.Join(t.TempDir(), "issuer-key.pem")
	if err := iss.SaveKey(keyFile); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, JWKSURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
		wantUser   string
	}{
		{"mints", []string{"-user", "ann", "-key", keyFile}, 0, "", "ann"},
		{"with name and ttl", []string{"-user", "bob", "-name", "Bob", "-ttl", "5m", "-key", keyFile}, 0, "", "bob"},
		{"help", []string{"-help"}, 0, "Usage: token -user NAME", ""},
		{"no user", []string{"-key", keyFile}, 2, "-user is required", ""},
		{"stray argument", []string{"-user", "ann", "extra"}, 2, `unexpected argument "extra"`, ""},
		{"bad ttl", []string{"-user", "ann", "-ttl", "-1m"}, 2, "-ttl must be positive", ""},
		{"no key file", []string{"-user", "ann", "-key", filepath.Join(t.TempDir(), "none.pem")}, 1, "start the emulator first (make dev)", ""},
		{"bad user", []string{"-user", "a b", "-key", keyFile}, 1, "user id", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if tt.wantUser == "" {
				if stdout.Len() != 0 {
					t.Errorf("stdout = %q, want nothing", stdout.String())
				}
				return
			}
			tok := strings.TrimSuffix(stdout.String(), "\n")
			if strings.Count(stdout.String(), "\n") != 1 || strings.Count(tok, ".") != 2 {
				t.Fatalf("stdout = %q, want one token line", stdout.String())
			}
			id, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.UserID != tt.wantUser {
				t.Errorf("sub = %q, want %q", id.UserID, tt.wantUser)
			}
		})
	}
}
