package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestVerifyAccepts(t *testing.T) {
	rsaK, ecK := rsaTestKey("rsa-1"), ecTestKey("ec-1")
	srv := newJWKSServer(t, rsaK, ecK)

	tests := []struct {
		name     string
		edit     func(*Config)
		token    func(t *testing.T) string
		wantUser string
		wantName string
	}{
		{
			name:     "RS256 Cognito ID token",
			token:    func(t *testing.T) string { return signWith(t, rsaK, nil, idClaims()) },
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ann",
		},
		{
			name:     "ES256 token",
			token:    func(t *testing.T) string { return signWith(t, ecK, nil, idClaims()) },
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ann",
		},
		{
			name: "Cognito access token: client_id and token_use, no aud",
			edit: func(c *Config) { c.TokenUse = "access" },
			token: func(t *testing.T) string {
				return signWith(t, rsaK, nil, with(idClaims(),
					"aud", nil, "cognito:username", nil, "email", nil,
					"client_id", testClientID, "token_use", "access", "username", "ann-access", "scope", "aws.cognito.signin.user.admin"))
			},
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ann-access",
		},
		{
			name: "aud as an array holding an accepted value",
			token: func(t *testing.T) string {
				return signWith(t, rsaK, nil, with(idClaims(), "aud", []string{"someone-else", testClientID}))
			},
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ann",
		},
		{
			name:     "name wins over cognito:username",
			token:    func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "name", "Ann Smith")) },
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "Ann Smith",
		},
		{
			name:     "email when no name or username",
			token:    func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "cognito:username", nil)) },
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ann@example.com",
		},
		{
			name: "sub when nothing else",
			token: func(t *testing.T) string {
				return signWith(t, rsaK, nil, with(idClaims(), "cognito:username", nil, "email", nil, "sub", "u-1"))
			},
			wantUser: "u-1",
			wantName: "u-1",
		},
		{
			name: "expired 30s ago, inside the 60s leeway",
			token: func(t *testing.T) string {
				return signWith(t, rsaK, nil, with(idClaims(), "exp", epoch.Add(-30*time.Second).Unix()))
			},
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ann",
		},
		{
			name: "nbf and iat 30s ahead, inside the leeway",
			token: func(t *testing.T) string {
				ahead := epoch.Add(30 * time.Second).Unix()
				return signWith(t, rsaK, nil, with(idClaims(), "nbf", ahead, "iat", ahead))
			},
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ann",
		},
		{
			name: "bidi overrides and zero-width characters are stripped from the name",
			token: func(t *testing.T) string {
				return signWith(t, rsaK, nil, with(idClaims(), "name", "\u202eAnn\u200b  Smith\u2066"))
			},
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "Ann Smith",
		},
		{
			name:     "a name that looks like the backend's is marked",
			token:    func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "name", "ѕerver")) },
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ѕerver (user)",
		},
		{
			name:     "a configured backend name is reserved too",
			edit:     func(c *Config) { c.ReservedNames = []string{"Orders"} },
			token:    func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "name", "0rders")) },
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "0rders (user)",
		},
		{
			name: "fractional exp",
			token: func(t *testing.T) string {
				return signWith(t, rsaK, nil, with(idClaims(), "exp", float64(epoch.Unix())+0.5))
			},
			wantUser: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			wantName: "ann",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var edits []func(*Config)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			v, _ := newTestVerifier(t, srv, edits...)
			got, err := v.Verify(context.Background(), tt.token(t))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.UserID != tt.wantUser || got.UserName != tt.wantName {
				t.Errorf("Verify = %+v, want {UserID:%s UserName:%s}", got, tt.wantUser, tt.wantName)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	rsaK, ecK := rsaTestKey("rsa-1"), ecTestKey("ec-1")
	srv := newJWKSServer(t, rsaK, ecK)
	impostor := testKey{kid: "rsa-1", rsa: otherRSAKey()} // same kid, different key

	pubDER, err := x509.MarshalPKIXPublicKey(&rsaK.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	// hsToken is the algorithm-confusion attack: HS256 keyed with the
	// issuer's public key, which a naive verifier would use as the secret.
	hsToken := func(secret []byte) string {
		input := seg(map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}) + "." + seg(idClaims())
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	good := func(t *testing.T) string { return signWith(t, rsaK, nil, idClaims()) }

	tests := []struct {
		name  string
		edit  func(*Config)
		token func(t *testing.T) string
		want  Reason
	}{
		{"missing", nil, func(*testing.T) string { return "" }, ReasonMissing},
		{"oversized", nil, func(*testing.T) string { return strings.Repeat("a", MaxTokenSize+1) }, ReasonTooLarge},
		{"oversized but otherwise valid", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "pad", strings.Repeat("x", MaxTokenSize)))
		}, ReasonTooLarge},
		{"two segments", nil, func(*testing.T) string { return "abc.def" }, ReasonMalformed},
		{"four segments", nil, func(t *testing.T) string { return good(t) + ".x" }, ReasonMalformed},
		{"header not base64url", nil, func(t *testing.T) string {
			p := strings.SplitN(good(t), ".", 2)
			return "!!!" + p[0][3:] + "." + p[1]
		}, ReasonMalformed},
		{"header padded base64", nil, func(t *testing.T) string {
			p := strings.SplitN(good(t), ".", 2)
			return p[0] + "==." + p[1]
		}, ReasonMalformed},
		{"header not JSON", nil, func(t *testing.T) string {
			p := strings.SplitN(good(t), ".", 2)
			return base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + p[1]
		}, ReasonMalformed},
		{"payload not JSON, signed", nil, func(t *testing.T) string {
			input := seg(map[string]any{"alg": "RS256", "kid": "rsa-1"}) + "." + base64.RawURLEncoding.EncodeToString([]byte("{oops"))
			return input + "." + base64.RawURLEncoding.EncodeToString(rawSign(t, rsaK, input))
		}, ReasonMalformed},
		{"signature not base64url", nil, func(t *testing.T) string { return good(t) + "*" }, ReasonMalformed},
		{"exp as a string", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "exp", "9999999999"))
		}, ReasonMalformed},
		{"crit header", nil, func(t *testing.T) string {
			return signWith(t, rsaK, map[string]any{"crit": []string{"exp"}}, idClaims())
		}, ReasonMalformed},
		{"bad signature: other key, same kid", nil, func(t *testing.T) string { return signWith(t, impostor, nil, idClaims()) }, ReasonSignature},
		{"bad signature: payload altered", nil, func(t *testing.T) string {
			p := strings.Split(good(t), ".")
			return p[0] + "." + seg(with(idClaims(), "sub", "admin")) + "." + p[2]
		}, ReasonSignature},
		{"bad signature: ES256 wrong length", nil, func(t *testing.T) string {
			p := strings.Split(signWith(t, ecK, nil, idClaims()), ".")
			return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 63))
		}, ReasonSignature},
		{"alg none, empty signature", nil, func(*testing.T) string {
			return seg(map[string]any{"alg": "none", "kid": "rsa-1"}) + "." + seg(idClaims()) + "."
		}, ReasonAlgorithm},
		{"alg none with RSA signature", nil, func(t *testing.T) string {
			return signWith(t, rsaK, map[string]any{"alg": "none"}, idClaims())
		}, ReasonAlgorithm},
		{"HS256 keyed with the RSA public key PEM", nil, func(*testing.T) string { return hsToken(pubPEM) }, ReasonAlgorithm},
		{"HS256 keyed with the RSA public key DER", nil, func(*testing.T) string { return hsToken(pubDER) }, ReasonAlgorithm},
		{"HS512", nil, func(t *testing.T) string { return signWith(t, rsaK, map[string]any{"alg": "HS512"}, idClaims()) }, ReasonAlgorithm},
		{"RS384", nil, func(t *testing.T) string { return signWith(t, rsaK, map[string]any{"alg": "RS384"}, idClaims()) }, ReasonAlgorithm},
		{"ES256 header naming the RSA key", nil, func(t *testing.T) string {
			return signWith(t, ecK, map[string]any{"kid": "rsa-1"}, idClaims())
		}, ReasonAlgorithm},
		{"RS256 header naming the EC key", nil, func(t *testing.T) string {
			return signWith(t, rsaK, map[string]any{"kid": "ec-1"}, idClaims())
		}, ReasonAlgorithm},
		{"no kid", nil, func(t *testing.T) string { return signWith(t, rsaK, map[string]any{"kid": nil}, idClaims()) }, ReasonUnknownKey},
		{"unknown kid", nil, func(t *testing.T) string { return signWith(t, testKey{kid: "nope", rsa: rsaK.rsa}, nil, idClaims()) }, ReasonUnknownKey},
		{"wrong issuer", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "iss", testIssuer+"x"))
		}, ReasonIssuer},
		{"issuer with trailing slash", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "iss", testIssuer+"/"))
		}, ReasonIssuer},
		{"no issuer", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "iss", nil)) }, ReasonIssuer},
		{"wrong audience", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "aud", "another-client"))
		}, ReasonAudience},
		{"aud array without an accepted value", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "aud", []string{"a", "b"}))
		}, ReasonAudience},
		{"foreign aud with our client_id", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "aud", "https://other.api", "client_id", testClientID))
		}, ReasonAudience},
		{"no aud and wrong client_id", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "aud", nil, "client_id", "another-client"))
		}, ReasonAudience},
		{"no aud, no client_id", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "aud", nil)) }, ReasonAudience},
		{"wrong token_use", func(c *Config) { c.TokenUse = "access" }, good, ReasonTokenUse},
		{"no token_use when one is required", func(c *Config) { c.TokenUse = "id" }, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "token_use", nil))
		}, ReasonTokenUse},
		{"expired", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "exp", epoch.Add(-2*time.Minute).Unix()))
		}, ReasonExpired},
		{"expired 1s ago without leeway", func(c *Config) { c.Leeway = -1 }, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "exp", epoch.Add(-time.Second).Unix()))
		}, ReasonExpired},
		{"no exp", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "exp", nil)) }, ReasonMissingClaim},
		{"not yet valid: nbf", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "nbf", epoch.Add(5*time.Minute).Unix()))
		}, ReasonNotYetValid},
		{"not yet valid: iat in the future", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "iat", epoch.Add(5*time.Minute).Unix()))
		}, ReasonNotYetValid},
		{"no sub", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "sub", nil)) }, ReasonMissingClaim},
		{"sub with a slash (never reachable by the publish API)", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "sub", "a/b")) }, ReasonBadSubject},
		{"sub with a '#' (a storage key)", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "sub", "CHAN#x")) }, ReasonBadSubject},
		{"sub with a space", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "sub", "ann smith")) }, ReasonBadSubject},
		{"sub with NUL", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "sub", "ann\x00")) }, ReasonBadSubject},
		{"sub too long", nil, func(t *testing.T) string {
			return signWith(t, rsaK, nil, with(idClaims(), "sub", strings.Repeat("x", 129)))
		}, ReasonBadSubject},
		{"sub is the backend's id", nil, func(t *testing.T) string { return signWith(t, rsaK, nil, with(idClaims(), "sub", "server")) }, ReasonBadSubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var edits []func(*Config)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			v, _ := newTestVerifier(t, srv, edits...)
			token := tt.token(t)
			got, err := v.Verify(context.Background(), token)
			if err == nil {
				t.Fatalf("Verify = %+v, nil; want rejection %s", got, tt.want)
			}
			if r := ReasonOf(err); r != tt.want {
				t.Errorf("reason = %q (%v), want %q", r, err, tt.want)
			}
			if got != (Identity{}) {
				t.Errorf("identity on rejection = %+v, want zero", got)
			}
			assertNoToken(t, err.Error(), token)
		})
	}
}

// assertNoToken fails if s holds the token or any of its segments.
func assertNoToken(t *testing.T, s, token string) {
	t.Helper()
	if token == "" {
		return
	}
	if strings.Contains(s, token) {
		t.Fatalf("token leaked into %q", s)
	}
	for _, p := range strings.Split(token, ".") {
		if len(p) >= 16 && strings.Contains(s, p) {
			t.Fatalf("token segment leaked into %q", s)
		}
	}
}

func TestNewVerifierConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
	}{
		{"cognito", Config{Issuer: testIssuer, Audiences: []string{"c"}}, ""},
		{"local http issuer", Config{Issuer: "http://127.0.0.1:8788", Audiences: []string{"c"}}, ""},
		{"localhost http issuer", Config{Issuer: "http://localhost:8788", Audiences: []string{"c"}}, ""},
		{"no issuer", Config{Audiences: []string{"c"}}, "WSCHAT_AUTH_ISSUER is not set"},
		{"no audiences", Config{Issuer: testIssuer}, "WSCHAT_AUTH_AUDIENCES is not set"},
		{"http issuer off loopback", Config{Issuer: "http://issuer.example.com", Audiences: []string{"c"}}, "http is only allowed on a loopback host"},
		{"relative issuer", Config{Issuer: "issuer", Audiences: []string{"c"}}, "not an absolute URL"},
		{"http jwks off loopback", Config{Issuer: testIssuer, Audiences: []string{"c"}, JWKSURL: "http://keys.example.com/jwks"}, "WSCHAT_AUTH_JWKS_URL"},
		{"bad token use", Config{Issuer: testIssuer, Audiences: []string{"c"}, TokenUse: "refresh"}, "WSCHAT_AUTH_TOKEN_USE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("NewVerifier: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("NewVerifier error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"WSCHAT_AUTH_ISSUER":    " " + testIssuer + " ",
		"WSCHAT_AUTH_AUDIENCES": "a, b,,c ",
		"WSCHAT_AUTH_TOKEN_USE": "access",
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != testIssuer || strings.Join(cfg.Audiences, "|") != "a|b|c" || cfg.TokenUse != "access" || cfg.JWKSURL != "" {
		t.Fatalf("ConfigFromEnv = %+v", cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := testIssuer + "/.well-known/jwks.json"; v.cfg.JWKSURL != want {
		t.Errorf("default JWKS URL = %q, want %q", v.cfg.JWKSURL, want)
	}
	if v.cfg.Leeway != DefaultLeeway || v.cfg.RefreshInterval != DefaultRefreshInterval {
		t.Errorf("defaults not applied: %+v", v.cfg)
	}
}
