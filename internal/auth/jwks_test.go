package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/testkit"
)

func TestJWKSFetchedOnceForManyVerifications(t *testing.T) {
	rsaK, ecK := rsaTestKey("rsa-1"), ecTestKey("ec-1")
	srv := newJWKSServer(t, rsaK, ecK)
	v, clock := newTestVerifier(t, srv)
	rsaTok := signWith(t, rsaK, nil, idClaims())
	ecTok := signWith(t, ecK, nil, idClaims())

	for i := range 50 {
		tok := rsaTok
		if i%2 == 1 {
			tok = ecTok
		}
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("Verify #%d: %v", i, err)
		}
		clock.Advance(time.Minute) // time passing alone never refetches
	}
	if got := srv.fetches.Load(); got != 1 {
		t.Errorf("JWKS fetches = %d, want 1", got)
	}
}

func TestJWKSConcurrentFirstUseFetchesOnce(t *testing.T) {
	k := rsaTestKey("rsa-1")
	srv := newJWKSServer(t, k)
	v, _ := newTestVerifier(t, srv)
	tok := signWith(t, k, nil, idClaims())

	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Verify: %v", err)
	}
	if got := srv.fetches.Load(); got != 1 {
		t.Errorf("JWKS fetches = %d, want 1", got)
	}
}

// step is one verification in a scripted scenario against a JWKS server.
type step struct {
	advance     time.Duration // clock moves first
	keys        []testKey     // if set, the server publishes these keys first
	failing     *bool         // if set, the server starts/stops failing first
	sign        testKey
	want        Reason // "" means accepted
	wantFetches int32
}

func runSteps(t *testing.T, srv *jwksServer, v *Verifier, clock *testkit.Clock, steps []step) {
	t.Helper()
	for i, s := range steps {
		clock.Advance(s.advance)
		if s.keys != nil {
			srv.setKeys(s.keys...)
		}
		if s.failing != nil {
			srv.failing.Store(*s.failing)
		}
		_, err := v.Verify(context.Background(), signWith(t, s.sign, nil, idClaims()))
		if got := ReasonOf(err); got != s.want || (s.want == "" && err != nil) {
			t.Errorf("step %d (kid %s): reason %q (err %v), want %q", i, s.sign.kid, got, err, s.want)
		}
		if got := srv.fetches.Load(); got != s.wantFetches {
			t.Errorf("step %d (kid %s): fetches = %d, want %d", i, s.sign.kid, got, s.wantFetches)
		}
	}
}

func TestJWKSRefreshOnNewKid(t *testing.T) {
	k1, k2 := rsaTestKey("k1"), ecTestKey("k2")
	srv := newJWKSServer(t, k1)
	v, clock := newTestVerifier(t, srv)
	runSteps(t, srv, v, clock, []step{
		{sign: k1, wantFetches: 1},
		// The issuer rotates in k2 right after our fetch: within the refresh
		// interval the new kid is refused without asking the issuer.
		{keys: []testKey{k1, k2}, sign: k2, want: ReasonUnknownKey, wantFetches: 1},
		{advance: 31 * time.Second, sign: k2, wantFetches: 2},
		{sign: k1, wantFetches: 2},
		// k1 is retired; a refresh (caused by an unknown kid) drops it.
		{advance: 31 * time.Second, keys: []testKey{k2}, sign: testKey{kid: "k3", rsa: k1.rsa}, want: ReasonUnknownKey, wantFetches: 3},
		{sign: k1, want: ReasonUnknownKey, wantFetches: 3},
	})
}

func TestJWKSUnknownKidRefreshIsRateLimited(t *testing.T) {
	k := rsaTestKey("k1")
	srv := newJWKSServer(t, k)
	v, clock := newTestVerifier(t, srv)
	random := func(i int) testKey { return testKey{kid: fmt.Sprintf("random-%d", i), rsa: k.rsa} }

	steps := []step{
		{sign: k, wantFetches: 1},
		// First unknown kid after the interval: refresh once, then reject.
		{advance: 31 * time.Second, sign: random(0), want: ReasonUnknownKey, wantFetches: 2},
	}
	// A flood of random kids costs the issuer nothing more.
	for i := 1; i <= 100; i++ {
		steps = append(steps, step{advance: 100 * time.Millisecond, sign: random(i), want: ReasonUnknownKey, wantFetches: 2})
	}
	steps = append(steps,
		step{sign: k, wantFetches: 2},
		step{advance: 30 * time.Second, sign: random(101), want: ReasonUnknownKey, wantFetches: 3},
	)
	runSteps(t, srv, v, clock, steps)
}

func TestJWKSDownFailsClosed(t *testing.T) {
	yes, no := true, false
	k := rsaTestKey("k1")

	t.Run("never loaded", func(t *testing.T) {
		srv := newJWKSServer(t, k)
		v, clock := newTestVerifier(t, srv)
		runSteps(t, srv, v, clock, []step{
			{failing: &yes, sign: k, want: ReasonKeysUnavailable, wantFetches: 1},
			// Retried no sooner than RetryInterval (5s).
			{advance: time.Second, sign: k, want: ReasonKeysUnavailable, wantFetches: 1},
			{advance: 5 * time.Second, sign: k, want: ReasonKeysUnavailable, wantFetches: 2},
			{advance: 5 * time.Second, failing: &no, sign: k, wantFetches: 3},
		})
	})

	t.Run("down after loading", func(t *testing.T) {
		srv := newJWKSServer(t, k)
		v, clock := newTestVerifier(t, srv)
		runSteps(t, srv, v, clock, []step{
			{sign: k, wantFetches: 1},
			// Cached keys keep verifying while the issuer is down...
			{advance: time.Hour, failing: &yes, sign: k, wantFetches: 1},
			// ...but a kid we must fetch for is refused.
			{sign: testKey{kid: "k2", rsa: k.rsa}, want: ReasonKeysUnavailable, wantFetches: 2},
		})
	})

	t.Run("connection refused", func(t *testing.T) {
		srv := newJWKSServer(t, k)
		v, _ := newTestVerifier(t, srv)
		srv.Close()
		_, err := v.Verify(context.Background(), signWith(t, k, nil, idClaims()))
		if got := ReasonOf(err); got != ReasonKeysUnavailable {
			t.Fatalf("reason = %q (%v), want %q", got, err, ReasonKeysUnavailable)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(slow.Close)
		t.Cleanup(func() { close(release) })
		client := slow.Client()
		client.Timeout = 100 * time.Millisecond
		v, err := NewVerifier(Config{Issuer: testIssuer, Audiences: []string{testClientID}, JWKSURL: slow.URL, HTTPClient: client, Now: func() time.Time { return epoch }})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = v.Verify(context.Background(), signWith(t, k, nil, idClaims()))
		if got := ReasonOf(err); got != ReasonKeysUnavailable {
			t.Fatalf("reason = %q (%v), want %q", got, err, ReasonKeysUnavailable)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Verify took %v; the HTTP timeout should have cut it short", d)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		srv := newJWKSServer(t, k)
		v, _ := newTestVerifier(t, srv)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := v.Verify(ctx, signWith(t, k, nil, idClaims()))
		if got := ReasonOf(err); got != ReasonKeysUnavailable {
			t.Fatalf("reason = %q (%v), want %q", got, err, ReasonKeysUnavailable)
		}
	})

	for name, body := range map[string]string{
		"not JSON":       "<html>sign in</html>",
		"no keys":        `{"keys":[]}`,
		"only HMAC keys": `{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			v, err := NewVerifier(Config{Issuer: testIssuer, Audiences: []string{testClientID}, JWKSURL: srv.URL, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), signWith(t, k, nil, idClaims()))
			if got := ReasonOf(err); got != ReasonKeysUnavailable {
				t.Fatalf("reason = %q (%v), want %q", got, err, ReasonKeysUnavailable)
			}
		})
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	good := rsaTestKey("good").jwk()
	ec := ecTestKey("ec").jwk()
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	offCurve := with(ec, "kid", "off-curve", "y", enc(make([]byte, 32)))
	keys := []map[string]string{
		good,
		with(good, "kid", "enc", "use", "enc"),
		with(good, "kid", "rs512", "alg", "RS512"),
		with(good, "kid", "no-n", "n", ""),
		{"kty": "RSA", "kid": "small", "n": enc(small.N.Bytes()), "e": "AQAB"},
		with(good, "kid", "even-e", "e", enc([]byte{2})),
		ec,
		with(ec, "kid", "p384", "crv", "P-384"),
		with(ec, "kid", "ec-as-rs", "alg", "RS256"),
		offCurve,
		with(ec, "kid", "short-x", "x", enc(make([]byte, 31))),
		{"kty": "oct", "kid": "hmac", "k": enc([]byte("secret"))},
		with(good, "kid", ""),
	}
	body, _ := json.Marshal(map[string]any{"keys": keys})
	got, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["good"].alg != algRS256 || got["ec"].alg != algES256 {
		names := []string{}
		for k := range got {
			names = append(names, k)
		}
		t.Errorf("usable keys = %v, want [good ec]", names)
	}
}
