package localissuer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/auth"
)

const testAudience = "wschat-local"

// serve starts the issuer's Handler on 127.0.0.1; the issuer URL is only
// known once the listener exists, hence the indirection.
func serve(t *testing.T) (*Issuer, *httptest.Server) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	iss, err := New(srv.URL, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	h = iss.Handler()
	return iss, srv
}

// verifierFor is the production verifier configured as the emulator would
// configure the authorizer: issuer URL, audience, token use "id", JWKS
// discovered at the default path.
func verifierFor(t *testing.T, iss *Issuer, srv *httptest.Server) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{
		Issuer:     iss.URL(),
		Audiences:  []string{iss.Audience()},
		TokenUse:   "id",
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMintVerifiesThroughJWKS(t *testing.T) {
	iss, srv := serve(t)
	v := verifierFor(t, iss, srv)
	for _, tt := range []struct{ user, name, wantName string }{
		{"ann", "", "ann"},
		{"bob", "Bob Builder", "Bob Builder"},
		{"carol@example.com", "Carol ☕", "Carol ☕"},
	} {
		tok, err := iss.Mint(tt.user, tt.name, time.Minute)
		if err != nil {
			t.Fatalf("Mint(%q): %v", tt.user, err)
		}
		id, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("Verify(Mint(%q)): %v", tt.user, err)
		}
		if id.UserID != tt.user || id.UserName != tt.wantName {
			t.Errorf("identity = %+v, want {%s %s}", id, tt.user, tt.wantName)
		}
	}
}

func TestMintedTokenExpires(t *testing.T) {
	iss, srv := serve(t)
	iss.now = func() time.Time { return time.Now().Add(-time.Hour) }
	tok, err := iss.Mint("ann", "", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = verifierFor(t, iss, srv).Verify(context.Background(), tok)
	if auth.ReasonOf(err) != auth.ReasonExpired {
		t.Fatalf("Verify = %v, want %s", err, auth.ReasonExpired)
	}
}

func TestOtherIssuerKeyIsRejected(t *testing.T) {
	iss, srv := serve(t)
	other, err := New(iss.URL(), testAudience) // same URL, different key
	if err != nil {
		t.Fatal(err)
	}
	tok, err := other.Mint("ann", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = verifierFor(t, iss, srv).Verify(context.Background(), tok)
	if r := auth.ReasonOf(err); r != auth.ReasonUnknownKey {
		t.Fatalf("Verify = %v, want %s", err, auth.ReasonUnknownKey)
	}
}

func TestMintRejectsBadUsers(t *testing.T) {
	iss, err := New("http://127.0.0.1:1", testAudience)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ user, name string }{
		{"", ""},
		{strings.Repeat("a", maxUserLen+1), ""},
		{"ann smith", ""},
		{"ann<script>", ""},
		{"ännä", ""},
		{"ann", "bad\nname"},
		{"ann", strings.Repeat("n", maxUserLen+1)},
	} {
		if _, err := iss.Mint(tt.user, tt.name, 0); err == nil {
			t.Errorf("Mint(%q, %q) succeeded, want an error", tt.user, tt.name)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct{ url, aud string }{
		{"", "a"},
		{"127.0.0.1:8080", "a"},
		{"ftp://127.0.0.1", "a"},
		{"http://127.0.0.1:8080", ""},
	} {
		if _, err := New(tt.url, tt.aud); err == nil {
			t.Errorf("New(%q, %q) succeeded, want an error", tt.url, tt.aud)
		}
	}
}

func TestHandler(t *testing.T) {
	iss, srv := serve(t)
	v := verifierFor(t, iss, srv)

	t.Run("discovery", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc["issuer"] != srv.URL || doc["jwks_uri"] != srv.URL+"/.well-known/jwks.json" || doc["token_endpoint"] != srv.URL+"/token" {
			t.Errorf("discovery = %v", doc)
		}
	})

	t.Run("jwks", func(t *testing.T) {
		resp, err := srv.Client().Get(iss.JWKSURL())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			Keys []map[string]string `json:"keys"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if len(doc.Keys) != 1 || doc.Keys[0]["kid"] != iss.kid || doc.Keys[0]["kty"] != "EC" || doc.Keys[0]["d"] != "" {
			t.Errorf("jwks = %v", doc)
		}
	})

	post := func(t *testing.T, contentType, body string) (int, map[string]any) {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL+"/token", contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("response is not JSON: %v", err)
		}
		return resp.StatusCode, out
	}

	tokenTests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantUser    string
		wantName    string
		wantTTL     int // seconds; 0: the default hour
	}{
		{"json", "application/json", `{"user":"ann"}`, 200, "ann", "ann", 0},
		{"json with name", "application/json; charset=utf-8", `{"user":"ann","name":"Ann"}`, 200, "ann", "Ann", 0},
		{"form", "application/x-www-form-urlencoded", url.Values{"user": {"bob"}, "name": {"Bob"}}.Encode(), 200, "bob", "Bob", 0},
		{"json ttl", "application/json", `{"user":"ann","ttl":"30s"}`, 200, "ann", "ann", 30},
		{"form ttl", "application/x-www-form-urlencoded", "user=bob&ttl=2m", 200, "bob", "bob", 120},
		{"ttl too short", "application/json", `{"user":"ann","ttl":"500ms"}`, 400, "", "", 0},
		{"ttl too long", "application/json", `{"user":"ann","ttl":"25h"}`, 400, "", "", 0},
		{"ttl not a duration", "application/json", `{"user":"ann","ttl":"soon"}`, 400, "", "", 0},
		{"no user", "application/json", `{}`, 400, "", "", 0},
		{"bad user", "application/x-www-form-urlencoded", "user=a+b", 400, "", "", 0},
		{"not json", "application/json", `user=ann`, 400, "", "", 0},
		{"text body", "text/plain", `ann`, 415, "", "", 0},
		{"too large", "application/x-www-form-urlencoded", "user=ann&pad=" + strings.Repeat("x", maxTokenRequest), 413, "", "", 0},
	}
	for _, tt := range tokenTests {
		t.Run("token "+tt.name, func(t *testing.T) {
			status, out := post(t, tt.contentType, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status = %d (%v), want %d", status, out, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				if out["error"] == "" {
					t.Errorf("error body = %v, want an error message", out)
				}
				return
			}
			ttl := tt.wantTTL
			if ttl == 0 {
				ttl = 3600
			}
			if out["expiresIn"] != float64(ttl) {
				t.Errorf("expiresIn = %v, want %d", out["expiresIn"], ttl)
			}
			tok, _ := out["token"].(string)
			id, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.UserID != tt.wantUser || id.UserName != tt.wantName {
				t.Errorf("identity = %+v, want {%s %s}", id, tt.wantUser, tt.wantName)
			}
			if got := id.ExpiresAt.Sub(id.IssuedAt); got != time.Duration(ttl)*time.Second {
				t.Errorf("token lives %v (exp - iat), want %ds", got, ttl)
			}
		})
	}

	t.Run("GET /token is not allowed", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/token?user=ann")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status = %d, want 405", resp.StatusCode)
		}
	})
}

func TestSaveLoadKey(t *testing.T) {
	iss, srv := serve(t)
	path := filepath.Join(t.TempDir(), ".dev", "issuer-key.pem")
	if err := iss.SaveKey(path); err != nil {
		t.Fatalf("SaveKey: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %v, want 0600", mode)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key dir holds %d entries, want only the key (no temp files)", len(entries))
	}

	loaded, err := LoadKey(path, "", "")
	if err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	if loaded.URL() != iss.URL() || loaded.Audience() != iss.Audience() || loaded.kid != iss.kid {
		t.Errorf("loaded issuer (%s, %s, %s) differs from saved (%s, %s, %s)",
			loaded.URL(), loaded.Audience(), loaded.kid, iss.URL(), iss.Audience(), iss.kid)
	}
	// A token minted from the file verifies against the running issuer's JWKS.
	tok, err := loaded.Mint("ann", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifierFor(t, iss, srv).Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify(token from key file): %v", err)
	}

	over, err := LoadKey(path, "http://127.0.0.1:9", "other")
	if err != nil {
		t.Fatal(err)
	}
	if over.URL() != "http://127.0.0.1:9" || over.Audience() != "other" {
		t.Errorf("overrides ignored: %s %s", over.URL(), over.Audience())
	}

	// Saving again replaces the file atomically.
	if err := iss.SaveKey(path); err != nil {
		t.Fatalf("SaveKey again: %v", err)
	}
}

func TestLoadKeyErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadKey(filepath.Join(dir, "missing.pem"), "", "")
	if !errors.Is(err, ErrNoKeyFile) {
		t.Errorf("LoadKey(missing) = %v, want ErrNoKeyFile", err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(garbage, "", ""); err == nil || errors.Is(err, ErrNoKeyFile) {
		t.Errorf("LoadKey(garbage) = %v, want a parse error", err)
	}
}
