// Package auth verifies the JWT a client presents on the WebSocket $connect
// and turns it into the identity (user id, display name) that every handler
// of the connection sees.
//
// Tokens must be signed RS256 or ES256 by a key in the configured issuer's
// JWKS (a Cognito user pool or any OIDC provider). The standard library does
// the cryptography; there is no JWT dependency. Every rejection is an *Error
// with a Reason that is safe to log; nothing here ever logs or returns the
// token itself.
package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/wire"
)

// Identity is who a verified token says the caller is.
type Identity struct {
	// UserID is the token's "sub".
	UserID string
	// UserName is the first of name, cognito:username, username, email and
	// sub that the token carries.
	UserName string
	// Channels is the canonical form (see chat.ParseCapabilities) of the
	// token's channel grant: its ChannelsClaim or else its mapped groups;
	// "" when it has neither.
	Channels string
	// ChannelsFrom says where Channels came from: ChannelsFromClaim,
	// ChannelsFromGroups or ChannelsFromNone.
	ChannelsFrom string
	// ExpiresAt is the token's exp; IssuedAt its iat (zero when absent),
	// which a revocation is compared with.
	ExpiresAt time.Time
	IssuedAt  time.Time
}

// ChannelsClaim names the claim that lists the channels a token's holder may
// use and what it may do there (docs/auth.md). A string, so that a Cognito
// pre-token-generation trigger can add it.
const ChannelsClaim = "wschat:channels"

// Verifier checks tokens against one issuer. It is safe for concurrent use;
// build one per process so the JWKS cache is shared.
type Verifier struct {
	cfg      Config
	keys     *keySet
	reserved chat.ReservedNames
}

// NewVerifier validates cfg and returns a Verifier. It makes no network call:
// the JWKS is fetched on the first verification.
func NewVerifier(cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg, keys: newKeySet(cfg), reserved: chat.NewReservedNames(cfg.ReservedNames...)}, nil
}

type header struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Crit []string `json:"crit"`
}

type claims struct {
	Iss             string      `json:"iss"`
	Sub             string      `json:"sub"`
	Aud             audience    `json:"aud"`
	ClientID        string      `json:"client_id"`
	TokenUse        string      `json:"token_use"`
	Exp             numericDate `json:"exp"`
	Nbf             numericDate `json:"nbf"`
	Iat             numericDate `json:"iat"`
	Name            string      `json:"name"`
	CognitoUsername string      `json:"cognito:username"`
	Username        string      `json:"username"`
	Email           string      `json:"email"`
	Channels        *string     `json:"wschat:channels"`
	// Groups is read only where a group mapping is configured, and only as
	// an array of strings (see grant).
	Groups json.RawMessage `json:"cognito:groups"`
}

// Verify checks token and returns the identity it carries. The signature is
// checked before any claim is believed.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, reject(ReasonMissing, "no token")
	}
	if len(token) > MaxTokenSize {
		return Identity{}, reject(ReasonTooLarge, "token exceeds %d bytes", MaxTokenSize)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Identity{}, reject(ReasonMalformed, "want 3 dot-separated segments")
	}

	var h header
	if err := decodeSegment(parts[0], &h); err != nil {
		return Identity{}, reject(ReasonMalformed, "header segment is not base64url JSON")
	}
	if len(h.Crit) > 0 {
		// RFC 7515 §4.1.11: a critical extension we do not implement must fail.
		return Identity{}, reject(ReasonMalformed, "unsupported crit header")
	}
	if h.Alg != algRS256 && h.Alg != algES256 {
		// "none" and HS256/384/512 end here, before any key is looked at.
		return Identity{}, reject(ReasonAlgorithm, "only RS256 and ES256 are accepted")
	}
	if h.Kid == "" {
		return Identity{}, reject(ReasonUnknownKey, "header has no kid")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return Identity{}, reject(ReasonMalformed, "signature segment is not base64url")
	}

	key, err := v.keys.key(ctx, h.Kid)
	if err != nil {
		return Identity{}, err
	}
	if key.alg != h.Alg {
		return Identity{}, reject(ReasonAlgorithm, "token alg %s does not match the key's %s", h.Alg, key.alg)
	}
	if !key.verify(token[:len(parts[0])+1+len(parts[1])], sig) {
		return Identity{}, reject(ReasonSignature, "signature does not verify")
	}

	var c claims
	if err := decodeSegment(parts[1], &c); err != nil {
		return Identity{}, reject(ReasonMalformed, "payload segment is not base64url JSON claims")
	}
	if err := v.checkClaims(&c); err != nil {
		return Identity{}, err
	}
	// One rule for user ids everywhere (wire.CheckUserID): a sub the
	// publish API could never address, or one that forges a storage key,
	// is refused here rather than admitted and unreachable.
	if err := wire.CheckUserID(c.Sub); err != nil {
		return Identity{}, reject(ReasonBadSubject, "%s", err.Error())
	}
	id := Identity{UserID: c.Sub, UserName: v.reserved.UserDisplayName(firstNonEmpty(c.Name, c.CognitoUsername, c.Username, c.Email), c.Sub),
		ExpiresAt: c.Exp.t}
	if c.Iat.set {
		id.IssuedAt = c.Iat.t
	}
	if id.Channels, id.ChannelsFrom, err = v.grant(&c); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func (v *Verifier) checkClaims(c *claims) error {
	if c.Iss != v.cfg.Issuer {
		return reject(ReasonIssuer, "iss is not the configured issuer")
	}
	now := v.cfg.Now()
	leeway := v.cfg.Leeway
	if !c.Exp.set {
		return reject(ReasonMissingClaim, "no exp")
	}
	if now.After(c.Exp.t.Add(leeway)) {
		return reject(ReasonExpired, "exp has passed")
	}
	if c.Nbf.set && c.Nbf.t.After(now.Add(leeway)) {
		return reject(ReasonNotYetValid, "nbf is in the future")
	}
	if c.Iat.set && c.Iat.t.After(now.Add(leeway)) {
		return reject(ReasonNotYetValid, "iat is in the future")
	}
	// When a token names its audience, that is what must match: an access
	// token that names another resource server is not for us even if our
	// client obtained it. Only tokens without aud (Cognito access tokens)
	// are matched on client_id.
	if c.Aud.set {
		if !slices.ContainsFunc(c.Aud.values, func(a string) bool { return slices.Contains(v.cfg.Audiences, a) }) {
			return reject(ReasonAudience, "aud is not accepted")
		}
	} else if c.ClientID == "" || !slices.Contains(v.cfg.Audiences, c.ClientID) {
		return reject(ReasonAudience, "no accepted aud or client_id")
	}
	if v.cfg.TokenUse != "" && c.TokenUse != v.cfg.TokenUse {
		return reject(ReasonTokenUse, "token_use is not %q", v.cfg.TokenUse)
	}
	if c.Sub == "" {
		return reject(ReasonMissingClaim, "no sub")
	}
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := b64.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON object")
	}
	return nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// audience is the "aud" claim, which RFC 7519 allows as a string or an array.
type audience struct {
	set    bool
	values []string
}

func (a *audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{set: true, values: []string{one}}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = audience{set: true, values: many}
	return nil
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly with a
// fraction. Strings are refused: a lenient parser is how "exp":"never" slips by.
type numericDate struct {
	set bool
	t   time.Time
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errors.New("date claim is not a number")
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e12 {
		return fmt.Errorf("date claim out of range")
	}
	sec, frac := math.Modf(f)
	*d = numericDate{set: true, t: time.Unix(int64(sec), int64(frac*1e9))}
	return nil
}
