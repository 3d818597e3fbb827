// Package localissuer is a small token issuer for local development: it makes
// an ES256 key, publishes it as a JWKS, and mints tokens that the $connect
// authorizer (package auth) accepts when it is pointed at this issuer. The
// local emulator serves it, and tools/token asks the emulator on a port for a
// token (POST /token), so a token always comes from the issuer it will be
// verified against. It is never deployed: anyone who can reach it can get a token for
// any user name.
package localissuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/wire"
)

// DefaultKeyFile is where the emulator saves the issuer key (relative to the
// repository root), so tokens minted before a restart stay valid after it.
const DefaultKeyFile = ".dev/issuer-key.pem"

// defaultTTL is the lifetime of a token minted with a zero ttl.
const defaultTTL = time.Hour

// TokenUse is the token_use claim of minted tokens: they stand in for
// Cognito ID tokens, so an authorizer configured with token use "id" (or
// none) accepts them.
const TokenUse = "id"

// PEM headers that carry the issuer URL and audience next to the key, so the
// file says which issuer it was saved for.
const (
	pemHeaderIssuer   = "Issuer"
	pemHeaderAudience = "Audience"
)

// maxUserLen bounds user ids and names; they end up in every frame a user sends.
const maxUserLen = 64

// Issuer signs tokens with one P-256 key.
type Issuer struct {
	url      string
	audience string
	key      *ecdsa.PrivateKey
	kid      string // RFC 7638 thumbprint: the same key file always yields the same kid
	now      func() time.Time
}

// New returns an issuer for issuerURL (the exact "iss" of its tokens, for
// example "http://127.0.0.1:8788") and audience (their "aud"), with a fresh key.
func New(issuerURL, audience string) (*Issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("localissuer: generate key: %w", err)
	}
	return newIssuer(issuerURL, audience, key)
}

func newIssuer(issuerURL, audience string, key *ecdsa.PrivateKey) (*Issuer, error) {
	u, err := url.Parse(issuerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("localissuer: issuer URL %q is not an absolute http(s) URL", issuerURL)
	}
	if audience == "" {
		return nil, errors.New("localissuer: audience is empty")
	}
	i := &Issuer{url: strings.TrimSuffix(issuerURL, "/"), audience: audience, key: key, now: time.Now}
	i.kid, err = thumbprint(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("localissuer: %w", err)
	}
	return i, nil
}

// URL is the issuer URL, the "iss" of minted tokens.
func (i *Issuer) URL() string { return i.url }

// Audience is the "aud" of minted tokens.
func (i *Issuer) Audience() string { return i.audience }

// JWKSURL is where Handler serves the public key.
func (i *Issuer) JWKSURL() string { return i.url + "/.well-known/jwks.json" }

// Mint returns a token for userID, displayed as userName (userID when empty),
// valid for ttl (defaultTTL when zero or negative), without a channels claim
// (the environment's default applies to it).
func (i *Issuer) Mint(userID, userName string, ttl time.Duration) (string, error) {
	return i.mint(userID, userName, nil, ttl)
}

// MintWithChannels is Mint with a wschat:channels claim: the channels
// (names, "prefix*" patterns, "=rights"; see docs/auth.md) the holder may
// use. An empty channels grants none.
func (i *Issuer) MintWithChannels(userID, userName, channels string, ttl time.Duration) (string, error) {
	caps, err := chat.ParseCapabilities(channels)
	if err != nil {
		return "", fmt.Errorf("localissuer: channels: %w", err)
	}
	canon := strings.TrimPrefix(caps.String(), chat.CapabilityVersion)
	return i.mint(userID, userName, &canon, ttl)
}

// MintRawSub is Mint for a sub the user id rule (wire.CheckUserID) may
// refuse: up to 256 bytes of UTF-8, as another issuer might mint. It lets
// a test see what $connect does with such a token.
func (i *Issuer) MintRawSub(sub, userName string, ttl time.Duration) (string, error) {
	if sub == "" || len(sub) > 256 || !utf8.ValidString(sub) {
		return "", errors.New("localissuer: a raw sub must be 1 to 256 bytes of UTF-8")
	}
	return i.sign(sub, userName, nil, ttl)
}

func (i *Issuer) mint(userID, userName string, channels *string, ttl time.Duration) (string, error) {
	if err := checkUserID(userID); err != nil {
		return "", err
	}
	return i.sign(userID, userName, channels, ttl)
}

func (i *Issuer) sign(userID, userName string, channels *string, ttl time.Duration) (string, error) {
	if userName == "" {
		userName = userID
	}
	if err := checkUserName(userName); err != nil {
		return "", err
	}
	if ttl <= 0 {
		ttl = defaultTTL
	}
	now := i.now()
	jti := make([]byte, 12)
	_, _ = rand.Read(jti) // crypto/rand.Read never fails (Go 1.24+)
	header := map[string]string{"alg": "ES256", "typ": "JWT", "kid": i.kid}
	claims := map[string]any{
		"iss":       i.url,
		"sub":       userID,
		"aud":       i.audience,
		"name":      userName,
		"token_use": TokenUse,
		"iat":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"jti":       b64.EncodeToString(jti),
	}
	if channels != nil {
		claims[ChannelsClaim] = *channels
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("localissuer: encode header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("localissuer: encode claims: %w", err)
	}
	signingInput := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	h := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, i.key, h[:])
	if err != nil {
		return "", fmt.Errorf("localissuer: sign: %w", err)
	}
	// JWS wants R||S, each left-padded to 32 bytes, not ASN.1.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signingInput + "." + b64.EncodeToString(sig), nil
}

// ChannelsClaim is the claim MintWithChannels sets; auth.ChannelsClaim reads
// it (the issuer does not import the verifier).
const ChannelsClaim = "wschat:channels"

// JWKS returns the public key set as JSON: {"keys":[{...}]}.
func (i *Issuer) JWKS() []byte {
	b, _ := json.Marshal(map[string]any{"keys": []any{i.publicJWK()}})
	return b
}

func (i *Issuer) publicJWK() map[string]string {
	x, y := coords(&i.key.PublicKey)
	return map[string]string{
		"kty": "EC", "crv": "P-256", "x": x, "y": y,
		"kid": i.kid, "alg": "ES256", "use": "sig",
	}
}

// SaveKey writes the private key to path as PKCS#8 PEM, mode 0600, with the
// issuer URL and audience as PEM headers. The write is atomic, so an emulator
// starting at the same time never reads half a key.
func (i *Issuer) SaveKey(path string) error {
	der, err := x509.MarshalPKCS8PrivateKey(i.key)
	if err != nil {
		return fmt.Errorf("localissuer: encode key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{
		Type:    "PRIVATE KEY",
		Headers: map[string]string{pemHeaderIssuer: i.url, pemHeaderAudience: i.audience},
		Bytes:   der,
	})
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("localissuer: save key: %w", err)
	}
	f, err := os.CreateTemp(dir, ".issuer-key-*")
	if err != nil {
		return fmt.Errorf("localissuer: save key: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("localissuer: save key: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("localissuer: save key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("localissuer: save key: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("localissuer: save key: %w", err)
	}
	return nil
}

// ErrNoKeyFile is wrapped by LoadKey when the key file does not exist.
var ErrNoKeyFile = errors.New("localissuer: no key file")

// LoadKey rebuilds an issuer from a file written by SaveKey. A non-empty
// issuerURL or audience overrides the value stored in the file.
func LoadKey(path, issuerURL, audience string) (*Issuer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoKeyFile, path)
	}
	if err != nil {
		return nil, fmt.Errorf("localissuer: read key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("localissuer: %s holds no PEM \"PRIVATE KEY\" block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("localissuer: parse key in %s: %w", path, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("localissuer: key in %s is not a P-256 ECDSA key", path)
	}
	if issuerURL == "" {
		issuerURL = block.Headers[pemHeaderIssuer]
	}
	if audience == "" {
		audience = block.Headers[pemHeaderAudience]
	}
	if issuerURL == "" || audience == "" {
		return nil, fmt.Errorf("localissuer: %s does not name its issuer and audience; pass them explicitly", path)
	}
	return newIssuer(issuerURL, audience, key)
}

var b64 = base64.RawURLEncoding

func coords(pub *ecdsa.PublicKey) (x, y string) {
	b, err := pub.Bytes() // 0x04 || X || Y, each 32 bytes for P-256
	if err != nil || len(b) != 65 {
		return "", ""
	}
	return b64.EncodeToString(b[1:33]), b64.EncodeToString(b[33:])
}

// thumbprint is the RFC 7638 JWK thumbprint of an EC public key.
func thumbprint(pub *ecdsa.PublicKey) (string, error) {
	x, y := coords(pub)
	if x == "" {
		return "", errors.New("invalid public key")
	}
	// Members in lexicographic order, no whitespace, as RFC 7638 requires.
	canon := `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:]), nil
}

func checkUserID(s string) error {
	if s == "" || len(s) > maxUserLen {
		return fmt.Errorf("localissuer: user id must be 1 to %d characters", maxUserLen)
	}
	if err := wire.CheckUserID(s); err != nil {
		return fmt.Errorf("localissuer: %w", err)
	}
	for _, r := range s {
		if !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._@-", r))) {
			return fmt.Errorf("localissuer: user id %q: use ASCII letters, digits and . _ @ -", s)
		}
	}
	return nil
}

func checkUserName(s string) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxUserLen {
		return fmt.Errorf("localissuer: user name must be valid UTF-8 of at most %d characters", maxUserLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("localissuer: user name has a control character")
		}
	}
	return nil
}
