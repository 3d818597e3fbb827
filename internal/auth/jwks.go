package auth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// maxJWKSSize bounds the JWKS body we read; real ones are a few KB.
const maxJWKSSize = 1 << 20

// keySet is the issuer's JWKS, fetched on first use and kept for the life of
// the process. An unknown kid triggers a refetch (keys rotate), but at most
// once per refreshInterval, so a client sending random kids costs the issuer
// nothing. A failed fetch is retried no sooner than retryInterval. There is
// no time-based expiry: as with aws-jwt-verify, a removed key stops being
// trusted when a refresh happens or the execution environment is recycled.
type keySet struct {
	url             string
	client          *http.Client
	now             func() time.Time
	refreshInterval time.Duration
	retryInterval   time.Duration

	// sem serializes fetches; a channel rather than a mutex so that a caller
	// waiting behind a slow fetch still honours its context.
	sem chan struct{}

	mu        sync.Mutex
	keys      map[string]publicKey // nil until the first successful fetch
	nextFetch time.Time            // no fetch before this instant
}

func newKeySet(c Config) *keySet {
	return &keySet{
		url:             c.JWKSURL,
		client:          c.HTTPClient,
		now:             c.Now,
		refreshInterval: c.RefreshInterval,
		retryInterval:   c.RetryInterval,
		sem:             make(chan struct{}, 1),
	}
}

func (s *keySet) cached(kid string) (k publicKey, ok, loaded, mayFetch bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok = s.keys[kid]
	return k, ok, s.keys != nil, !s.now().Before(s.nextFetch)
}

// key returns the key for kid, fetching the JWKS if kid is unknown and the
// rate limit allows. It fails closed: no keys, no verification.
func (s *keySet) key(ctx context.Context, kid string) (publicKey, error) {
	if k, ok, _, _ := s.cached(kid); ok {
		return k, nil
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return publicKey{}, &Error{Reason: ReasonKeysUnavailable, Detail: "waiting for jwks", Err: ctx.Err()}
	}
	// Whoever held sem before us may just have fetched.
	k, ok, loaded, mayFetch := s.cached(kid)
	switch {
	case ok:
		return k, nil
	case !mayFetch && loaded:
		return publicKey{}, reject(ReasonUnknownKey, "kid not in jwks (refresh rate-limited)")
	case !mayFetch:
		return publicKey{}, reject(ReasonKeysUnavailable, "jwks fetch failed recently; retry later")
	}

	keys, err := s.fetch(ctx)
	s.mu.Lock()
	if err != nil {
		s.nextFetch = s.now().Add(s.retryInterval)
		s.mu.Unlock()
		return publicKey{}, &Error{Reason: ReasonKeysUnavailable, Err: err}
	}
	s.keys = keys
	s.nextFetch = s.now().Add(s.refreshInterval)
	s.mu.Unlock()

	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return publicKey{}, reject(ReasonUnknownKey, "kid not in jwks")
}

func (s *keySet) fetch(ctx context.Context) (map[string]publicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	// A redirect must not downgrade us to plain http off loopback.
	if err := checkURL(resp.Request.URL.String()); err != nil {
		return nil, fmt.Errorf("fetch jwks: redirected: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks from %s: status %s", s.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks from %s: %w", s.url, err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("fetch jwks from %s: body larger than %d bytes", s.url, maxJWKSSize)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks from %s: %w", s.url, err)
	}
	return keys, nil
}
