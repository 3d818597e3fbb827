package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/testkit"
)

// Keys are generated once per test binary: RSA generation is slow.
var (
	rsaKey      = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	otherRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	ecKey       = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC() })
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// testKey is a signing key as the tests' own issuer holds it.
type testKey struct {
	kid string
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

func rsaTestKey(kid string) testKey { return testKey{kid: kid, rsa: rsaKey()} }
func ecTestKey(kid string) testKey  { return testKey{kid: kid, ec: ecKey()} }

func (k testKey) alg() string {
	if k.rsa != nil {
		return "RS256"
	}
	return "ES256"
}

func (k testKey) jwk() map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	if k.rsa != nil {
		return map[string]string{
			"kty": "RSA", "kid": k.kid, "alg": "RS256", "use": "sig",
			"n": enc(k.rsa.N.Bytes()), "e": enc(big.NewInt(int64(k.rsa.E)).Bytes()),
		}
	}
	b, err := k.ec.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	return map[string]string{
		"kty": "EC", "kid": k.kid, "alg": "ES256", "use": "sig", "crv": "P-256",
		"x": enc(b[1:33]), "y": enc(b[33:]),
	}
}

func jwksJSON(keys ...testKey) []byte {
	var list []map[string]string
	for _, k := range keys {
		list = append(list, k.jwk())
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return b
}

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// signWith signs header and claims with k; header gets alg and kid from k
// unless it sets them.
func signWith(t *testing.T, k testKey, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": k.alg(), "kid": k.kid, "typ": "JWT"}
	for n, v := range header {
		if v == nil {
			delete(h, n)
		} else {
			h[n] = v
		}
	}
	input := seg(h) + "." + seg(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(rawSign(t, k, input))
}

func rawSign(t *testing.T, k testKey, input string) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte(input))
	if k.rsa != nil {
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	r, s, err := ecdsa.Sign(rand.Reader, k.ec, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

const (
	testIssuer   = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"
	testClientID = "3n4b5urk1ft4fl3mg5e62d9ado"
)

var epoch = testkit.Epoch

// idClaims are the claims of a Cognito ID token at epoch.
func idClaims() map[string]any {
	return map[string]any{
		"iss":              testIssuer,
		"sub":              "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"aud":              testClientID,
		"token_use":        "id",
		"cognito:username": "ann",
		"email":            "ann@example.com",
		"iat":              epoch.Add(-time.Minute).Unix(),
		"exp":              epoch.Add(time.Hour).Unix(),
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// jwksServer is an issuer's JWKS endpoint on 127.0.0.1 that counts fetches
// and can be switched to failing.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int32
	failing atomic.Bool
	mu      sync.Mutex
	body    []byte
}

func newJWKSServer(t *testing.T, keys ...testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{body: jwksJSON(keys...)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.failing.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		body := s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = jwksJSON(keys...)
}

// newTestVerifier returns a verifier for testIssuer whose JWKS is srv, on a
// fake clock at epoch.
func newTestVerifier(t *testing.T, srv *jwksServer, edit ...func(*Config)) (*Verifier, *testkit.Clock) {
	t.Helper()
	clock := testkit.NewClock() // at epoch
	cfg := Config{
		Issuer:     testIssuer,
		Audiences:  []string{testClientID},
		JWKSURL:    srv.URL + "/.well-known/jwks.json",
		HTTPClient: srv.Client(),
		Now:        clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v, clock
}
