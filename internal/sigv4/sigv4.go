// Package sigv4 verifies AWS Signature Version 4 requests against the
// emulator's one pair of local credentials, by signing each request again
// with aws-sdk-go-v2's own signer: @connections, the HTTP APIs' AWS_IAM
// routes, the admin endpoint, SQS and the DynamoDB guard all use it.
package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
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

// Local is the one pair of credentials everything local signs with and
// every local listener accepts: the functions get it as
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (local/lambdaenv), tests and
// tools use it. It is documented, not secret: what keeps web pages out is
// that a page cannot send an Authorization header to a listener of another
// origin without a CORS preflight, which every listener refuses, nor reach
// one through DNS rebinding, which their Host checks refuse.
var Local = Credentials{AccessKeyID: "local", SecretAccessKey: "local"}

// MaxSkew is how far a request's X-Amz-Date may be from the clock, as on AWS.
const MaxSkew = 5 * time.Minute

// Verifier checks SigV4 signatures for one service and region by signing
// the request again with aws-sdk-go-v2's own signer and comparing the two
// Authorization headers in constant time. No signing code is written here.
type Verifier struct {
	Creds Credentials
	// Region is the region requests must be scoped to; "" accepts the
	// region a request names (local DynamoDB and SQS answer any region,
	// and the signature still covers it).
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
	region := v.Region
	if region == "" {
		region = scope[2]
	}
	if scope[2] != region || scope[3] != v.Service || region == "" {
		return &AuthError{"InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region and service: %s/%s, not %s/%s", region, v.Service, scope[2], scope[3])}
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
	want, err := v.resign(r, body, signed, region, at)
	if err != nil {
		return &AuthError{"IncompleteSignatureException", err.Error()}
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(auth)) != 1 {
		return &AuthError{"InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return nil
}

// resign signs a copy of r that holds only the headers the client signed.
func (v *Verifier) resign(r *http.Request, body []byte, signed []string, region string, at time.Time) (string, error) {
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
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), v.Service, region, at); err != nil {
		return "", err
	}
	return cp.Header.Get("Authorization"), nil
}

// RegionOf is the region r's Authorization header is scoped to ("" when
// it has none): what a proxy that changes a signed request re-signs it for.
func RegionOf(r *http.Request) string {
	cred, _, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return ""
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 {
		return ""
	}
	return scope[2]
}

// Sign signs r, whose body is body, for service and region with creds at
// the current time, replacing any signature it had: a proxy that edits a
// verified request (internal/emutest's counting DynamoDB proxy) signs
// again, so the next hop can verify it too.
func Sign(r *http.Request, body []byte, creds Credentials, service, region string) error {
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Content-Sha256"} {
		r.Header.Del(h)
	}
	sum := sha256.Sum256(body)
	c := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}
	return v4.NewSigner().SignHTTP(r.Context(), c, r, hex.EncodeToString(sum[:]), service, region, time.Now())
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
