package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wschat/wschat/internal/contract"
)

// Defaults for the Config fields left zero.
const (
	DefaultLeeway          = 60 * time.Second
	DefaultHTTPTimeout     = 5 * time.Second
	DefaultRefreshInterval = 30 * time.Second
	DefaultRetryInterval   = 5 * time.Second
)

// MaxTokenSize bounds the token the verifier will look at. Real Cognito and
// OIDC tokens are 1–2 KB; refusing larger input keeps a hostile client from
// making us base64-decode and parse megabytes.
const MaxTokenSize = 8 << 10

// Config says which tokens a Verifier accepts and how it reaches the issuer's
// keys. Issuer and Audiences are required: an empty list would accept a token
// minted for any other client of the same issuer.
type Config struct {
	// Issuer is the exact "iss" a token must carry, for example
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123.
	Issuer string
	// Audiences are the accepted "aud" values or, for tokens without "aud"
	// (Cognito access tokens), the accepted "client_id" values.
	Audiences []string
	// TokenUse, when set ("id" or "access"), is the "token_use" a token must carry.
	TokenUse string
	// JWKSURL is where the issuer's public keys are; empty means
	// Issuer + "/.well-known/jwks.json". It must be https, except on a
	// loopback host (the local issuer).
	JWKSURL string
	// GroupChannels maps Cognito group names to channel capabilities
	// (chat.ParseCapabilities): a token without a channels claim gets the
	// grants of the listed groups it names in GroupsClaim, added up.
	GroupChannels map[string]string
	// ReservedNames are the display names only backends show (the publish
	// API's configured names; chat.FromServer always is): a token whose
	// name looks like one gets chat.UserMark appended.
	ReservedNames []string

	// Leeway absorbs clock skew on exp, nbf and iat. Zero means DefaultLeeway;
	// a negative value means no leeway.
	Leeway time.Duration
	// RefreshInterval is the least time between two JWKS fetches caused by an
	// unknown kid, so random kids cannot turn into a flood on the issuer.
	RefreshInterval time.Duration
	// RetryInterval is the least time between a failed JWKS fetch and the next
	// attempt.
	RetryInterval time.Duration
	// HTTPClient fetches the JWKS; nil means a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ConfigFromEnv reads the WSCHAT_AUTH_* variables and
// contract.EnvGroupChannels. It only parses (an error is a mapping that is
// not JSON); NewVerifier validates.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var auds []string
	for a := range strings.SplitSeq(getenv(contract.EnvAuthAudiences), ",") {
		if a = strings.TrimSpace(a); a != "" {
			auds = append(auds, a)
		}
	}
	groups, err := parseGroupChannels(getenv(contract.EnvGroupChannels))
	if err != nil {
		return Config{}, err
	}
	var reserved []string
	if raw := strings.TrimSpace(getenv(contract.EnvReservedNames)); raw != "" {
		if err := json.Unmarshal([]byte(raw), &reserved); err != nil {
			return Config{}, fmt.Errorf("%s: want a JSON array of names: %w", contract.EnvReservedNames, err)
		}
	}
	return Config{
		Issuer:        strings.TrimSpace(getenv(contract.EnvAuthIssuer)),
		Audiences:     auds,
		TokenUse:      strings.TrimSpace(getenv(contract.EnvAuthTokenUse)),
		JWKSURL:       strings.TrimSpace(getenv(contract.EnvAuthJWKSURL)),
		GroupChannels: groups,
		ReservedNames: reserved,
	}, nil
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, fmt.Errorf("%s is not set: without an issuer no token can be verified, so every connection would be refused", contract.EnvAuthIssuer))
	} else if err := checkURL(c.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", contract.EnvAuthIssuer, err))
	}
	if len(c.Audiences) == 0 {
		errs = append(errs, fmt.Errorf("%s is not set: list the app client ids (or audiences) whose tokens may connect", contract.EnvAuthAudiences))
	}
	switch c.TokenUse {
	case "", "id", "access":
	default:
		errs = append(errs, fmt.Errorf("%s is %q: want \"id\", \"access\" or empty", contract.EnvAuthTokenUse, c.TokenUse))
	}
	if c.JWKSURL == "" && c.Issuer != "" {
		c.JWKSURL = strings.TrimSuffix(c.Issuer, "/") + "/.well-known/jwks.json"
	}
	if c.JWKSURL != "" {
		if err := checkURL(c.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", contract.EnvAuthJWKSURL, err))
		}
	}
	if err := checkGroupChannels(c.GroupChannels); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("auth config: %w", err)
	}
	switch {
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway < 0:
		c.Leeway = 0
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// checkURL accepts https URLs, and http ones only on a loopback host: keys
// fetched over plain http from anywhere else could be swapped in transit.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: http is only allowed on a loopback host; use https", raw)
	default:
		return fmt.Errorf("%q: scheme must be https", raw)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
