package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials are the emulator's one pair of local AWS credentials: the only
// identity it accepts on AWS_IAM routes and on @connections.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// MaxSkew is how far a request's X-Amz-Date may be from the clock, as on AWS.
const MaxSkew = 5 * time.Minute

// Verifier checks SigV4 signatures for one service and region by signing
// the request again with aws-sdk-go-v2's own signer and comparing the two
// Authorization headers in constant time. No signing code is written here.
type Verifier struct {
	Creds   Credentials
	Region  string
	Service string // "execute-api" for both HTTP APIs and @connections
	Now     func() time.Time
}

// AuthError is a refused signature: API Gateway answers 403 with this
// error type (x-amzn-ErrorType) and {"message": Message}.
type AuthError struct {
	Type    string
	Message string
}

func (e *AuthError) Error() string { return e.Type + ": " + e.Message }

const amzDate = "20060102T150405Z"

// Verify checks r, whose body is body (already read). It returns nil or an
// *AuthError.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if r.URL.Query().Get("X-Amz-Signature") != "" {
			return &AuthError{"IncompleteSignatureException", "Presigned URLs are not emulated; sign the Authorization header"}
		}
		return &AuthError{"MissingAuthenticationTokenException", "Forbidden"}
	}
	cred, signed, err := parseAuthorization(auth)
	if err != nil {
		return err
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return &AuthError{"IncompleteSignatureException", "Credential must be <key>/<date>/<region>/<service>/aws4_request"}
	}
	if subtle.ConstantTimeCompare([]byte(scope[0]), []byte(v.Creds.AccessKeyID)) != 1 {
		return &AuthError{"UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if r.Header.Get("X-Amz-Security-Token") != "" {
		return &AuthError{"UnrecognizedClientException", "The security token included in the request is invalid (the local credentials have no session token)."}
	}
	if scope[2] != v.Region || scope[3] != v.Service {
		return &AuthError{"InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region and service: %s/%s, not %s/%s", v.Region, v.Service, scope[2], scope[3])}
	}
	at, err := time.Parse(amzDate, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return &AuthError{"IncompleteSignatureException", "Authorization header requires existence of a valid X-Amz-Date header"}
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if skew := now().Sub(at); skew > MaxSkew || skew < -MaxSkew {
		return &AuthError{"InvalidSignatureException", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			at.Format(amzDate), now().Add(-MaxSkew).UTC().Format(amzDate), now().UTC().Format(amzDate))}
	}
	if !slices.Contains(signed, "host") {
		return &AuthError{"IncompleteSignatureException", "SignedHeaders must include host"}
	}
	want, err := v.resign(r, body, signed, at)
	if err != nil {
		return &AuthError{"IncompleteSignatureException", err.Error()}
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(auth)) != 1 {
		return &AuthError{"InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return nil
}

// resign signs a copy of r that holds only the headers the client signed.
func (v *Verifier) resign(r *http.Request, body []byte, signed []string, at time.Time) (string, error) {
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	cp := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = int64(len(body))
		default:
			vals := r.Header.Values(h)
			if len(vals) == 0 {
				return "", fmt.Errorf("signed header %s is missing", h)
			}
			cp.Header[http.CanonicalHeaderKey(h)] = vals
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: v.Creds.AccessKeyID, SecretAccessKey: v.Creds.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), v.Service, v.Region, at); err != nil {
		return "", err
	}
	return cp.Header.Get("Authorization"), nil
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(auth string) (cred string, signed []string, err error) {
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", nil, &AuthError{"IncompleteSignatureException", "Authorization header must use AWS4-HMAC-SHA256"}
	}
	parts := map[string]string{}
	for p := range strings.SplitSeq(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		parts[k] = val
	}
	if parts["Credential"] == "" || parts["SignedHeaders"] == "" || parts["Signature"] == "" {
		return "", nil, &AuthError{"IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature', 'SignedHeaders' parameters."}
	}
	return parts["Credential"], strings.Split(parts["SignedHeaders"], ";"), nil
}

// Deny writes API Gateway's 403 answer for err.
func Deny(w http.ResponseWriter, err error) {
	ae, ok := err.(*AuthError)
	if !ok {
		ae = &AuthError{"ForbiddenException", "Forbidden"}
	}
	writeError(w, http.StatusForbidden, ae.Type, ae.Message)
}

func writeError(w http.ResponseWriter, status int, errType, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if errType != "" {
		h.Set("x-amzn-ErrorType", errType)
	}
	w.WriteHeader(status)
	b := []byte(`{"message":` + quoteJSON(message) + `}`)
	_, _ = w.Write(b)
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// unescape decodes one path segment.
func unescape(seg string) (string, bool) {
	s, err := url.PathUnescape(seg)
	return s, err == nil
}

// ReadBody reads r's body (at most MaxBodyBytes) and puts it back, so a
// handler after Verify reads it again.
func ReadBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
