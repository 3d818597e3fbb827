package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// The only algorithms accepted. Both are asymmetric: a verifier that also
// accepted HS256 could be fooled by a token MACed with the public key.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
)

// minRSABits rejects toy RSA keys in a JWKS.
const minRSABits = 2048

// jwk is the subset of RFC 7517 fields used for RSA and P-256 keys.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// publicKey is a parsed JWK bound to the one algorithm it may verify.
type publicKey struct {
	alg string
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// parseJWKS turns a JWKS document into keys by kid. Keys this verifier cannot
// use (other kty, use=enc, small RSA, bad points) are skipped rather than
// failing the whole set, since issuers may publish keys for other purposes.
func parseJWKS(body []byte) (map[string]publicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	keys := make(map[string]publicKey, len(doc.Keys))
	for _, k := range doc.Keys {
		if k.Kid == "" {
			continue
		}
		pk, err := k.parse()
		if err != nil {
			continue
		}
		keys[k.Kid] = pk
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks has no usable RS256 or ES256 signing key")
	}
	return keys, nil
}

func (k jwk) parse() (publicKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return publicKey{}, fmt.Errorf("key use %q", k.Use)
	}
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != algRS256 {
			return publicKey{}, fmt.Errorf("rsa key alg %q", k.Alg)
		}
		n, err := decodeBigInt(k.N)
		if err != nil {
			return publicKey{}, fmt.Errorf("rsa n: %w", err)
		}
		e, err := decodeBigInt(k.E)
		if err != nil {
			return publicKey{}, fmt.Errorf("rsa e: %w", err)
		}
		if n.BitLen() < minRSABits {
			return publicKey{}, fmt.Errorf("rsa key of %d bits", n.BitLen())
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return publicKey{}, errors.New("rsa exponent out of range")
		}
		return publicKey{alg: algRS256, rsa: &rsa.PublicKey{N: n, E: int(e.Int64())}}, nil
	case "EC":
		if k.Crv != "P-256" {
			return publicKey{}, fmt.Errorf("curve %q", k.Crv)
		}
		if k.Alg != "" && k.Alg != algES256 {
			return publicKey{}, fmt.Errorf("ec key alg %q", k.Alg)
		}
		x, err := decodeFixed(k.X, 32)
		if err != nil {
			return publicKey{}, fmt.Errorf("ec x: %w", err)
		}
		y, err := decodeFixed(k.Y, 32)
		if err != nil {
			return publicKey{}, fmt.Errorf("ec y: %w", err)
		}
		// ParseUncompressedPublicKey rejects points off the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return publicKey{}, err
		}
		return publicKey{alg: algES256, ec: pub}, nil
	default:
		return publicKey{}, fmt.Errorf("kty %q", k.Kty)
	}
}

// verify checks sig over signingInput with this key under alg. The caller
// has already checked that alg is the key's algorithm.
func (pk publicKey) verify(signingInput string, sig []byte) bool {
	h := sha256.Sum256([]byte(signingInput))
	switch pk.alg {
	case algRS256:
		return rsa.VerifyPKCS1v15(pk.rsa, crypto.SHA256, h[:], sig) == nil
	case algES256:
		// JWS carries ES256 signatures as fixed-size R||S (RFC 7518 §3.4), not ASN.1.
		if len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pk.ec, h[:], r, s)
	default:
		return false
	}
}

var b64 = base64.RawURLEncoding.Strict()

func decodeBigInt(s string) (*big.Int, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return new(big.Int).SetBytes(b), nil
}

func decodeFixed(s string, size int) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), size)
	}
	return b, nil
}
