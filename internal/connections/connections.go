// Package connections is the adapter for API Gateway's @connections
// management API: it posts frames to WebSocket clients and closes
// connections, and translates the answers into the chat package's errors
// (chat.ErrGone, chat.ErrThrottled, chat.ErrUnavailable).
//
// It does not use the SDK's apigatewaymanagementapi client. A fan-out
// makes one call per member, and that client runs every call through its
// middleware stack (endpoint resolution, retries, user agent, logging,
// response deserialization): about 350 allocations and 30 KB per post. The
// Client here builds each request itself and signs it with the SDK's own
// SigV4 signer (aws/signer/v4, which caches the derived signing key for the
// day), over one reused HTTP client; the answer needs only its status and
// error type. See docs/cost.md for the measured difference.
package connections

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/wschat/wschat/internal/chat"
)

// Options tunes a Client.
type Options struct {
	// MaxConns bounds the pooled HTTP connections to the endpoint; size it to
	// the fan-out worker count. 0 means 64.
	MaxConns int
	// HTTPClient replaces the transport the Client builds (tests and
	// benchmarks use it to count or fake round trips): its Transport is
	// used, http.DefaultTransport when that is nil.
	HTTPClient *http.Client
}

// Client posts to the connections of one API stage. It is safe for
// concurrent use and meant to be built once per process.
type Client struct {
	endpoint *url.URL // the stage: https://{apiId}.execute-api.{region}.amazonaws.com/{stage}
	base     string   // endpoint as a string, without a trailing slash
	creds    aws.CredentialsProvider
	region   string
	signer   *v4.Signer
	// rt is called directly rather than through an http.Client: the
	// management API never redirects, and a client's redirect bookkeeping
	// (a header copier, a URL clone) costs allocations on every post.
	rt  http.RoundTripper
	now func() time.Time
}

// A Client is a chat.Poster: the one the fan-out wraps with retries (and
// internal/compose checks it against fanout.Poster).
var _ chat.Poster = (*Client)(nil)

// service is the SigV4 signing name of the @connections API.
const service = "execute-api"

// New returns a Client for the stage endpoint callbackURL
// (https://{apiId}.execute-api.{region}.amazonaws.com/{stage}, from
// WSCHAT_CALLBACK_URL), signing with cfg's credentials and region.
//
// There are no retries here: the fan-out retries throttling and server
// errors itself, with a budget and a per-call timeout, and a retry hidden
// inside one call would blow both.
func New(cfg aws.Config, callbackURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(callbackURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("callback URL %q is not an absolute URL (https://{apiId}.execute-api.{region}.amazonaws.com/{stage})", callbackURL)
	}
	if cfg.Credentials == nil {
		return nil, errors.New("no credentials to sign @connections calls with")
	}
	var rt http.RoundTripper = newTransport(opts.MaxConns)
	if opts.HTTPClient != nil {
		rt = opts.HTTPClient.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
	}
	return &Client{
		endpoint: u,
		base:     u.String(),
		creds:    cfg.Credentials,
		region:   cfg.Region,
		signer:   v4.NewSigner(),
		rt:       rt,
		now:      time.Now,
	}, nil
}

// newTransport is the pooled transport of one process: HTTP/2 where the
// endpoint offers it (API Gateway does; 128 posts then share a few TLS
// connections), and as many idle connections kept as posts run at once.
func newTransport(maxConns int) *http.Transport {
	if maxConns <= 0 {
		maxConns = 64
	}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Post sends data as one text frame to the connection. Errors wrap
// chat.ErrGone (the connection no longer exists), chat.ErrThrottled (429:
// the account's rate; also an ErrUnavailable) or chat.ErrUnavailable (a
// server error or a network failure: worth retrying).
func (c *Client) Post(ctx context.Context, connectionID string, data []byte) error {
	return c.call(ctx, "post to connection", http.MethodPost, connectionID, data)
}

// Delete closes the connection (DELETE @connections/{id}); API Gateway then
// runs $disconnect. Errors wrap chat.ErrGone or chat.ErrUnavailable as for
// Post.
func (c *Client) Delete(ctx context.Context, connectionID string) error {
	return c.call(ctx, "delete connection", http.MethodDelete, connectionID, nil)
}

// emptyHash is the SHA-256 of an empty payload.
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// call makes one signed request to @connections/{id} and translates the
// answer.
func (c *Client) call(ctx context.Context, op, method, connectionID string, body []byte) error {
	req, err := c.request(ctx, method, connectionID, body)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return translateTransport(op, ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		if resp.ContentLength != 0 {
			// Drained so the connection goes back to the pool.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		}
		return nil
	}
	return translateStatus(op, resp)
}

// request builds and signs one request. The connection id is escaped in
// the path (ids end in '=', sent as %3D), exactly as the SDK does, and the signer
// escapes the escaped path again for the canonical request, as SigV4
// requires for every service but S3.
func (c *Client) request(ctx context.Context, method, connectionID string, body []byte) (*http.Request, error) {
	escaped := httpbinding.EscapePath(connectionID, true)
	u := *c.endpoint
	u.Path = c.endpoint.Path + "/@connections/" + connectionID
	u.RawPath = c.endpoint.EscapedPath() + "/@connections/" + escaped
	req := &http.Request{
		Method:     method,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, 4),
		Host:       u.Host,
	}
	req = req.WithContext(ctx)
	hash := emptyHash
	if body != nil {
		req.Header["Content-Type"] = []string{"application/octet-stream"}
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w: %w", chat.ErrUnavailable, err)
	}
	if err := c.signer.SignHTTP(ctx, creds, req, hash, service, c.region, c.now()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return req, nil
}

// StatusError is an answer of the @connections API other than 2xx. It
// wraps the domain error the status means (chat.ErrGone for 410,
// chat.ErrThrottled for 429, chat.ErrUnavailable for 5xx); any other 4xx
// wraps nothing: retrying it will not help.
type StatusError struct {
	Status int
	// Type is the x-amzn-ErrorType header without its ":..." suffix, e.g.
	// GoneException, LimitExceededException, ForbiddenException.
	Type    string
	Message string
	domain  error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%d", e.Status)
	if e.Type != "" {
		s += " " + e.Type
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns the domain error the status means, or nil.
func (e *StatusError) Unwrap() error { return e.domain }

// translateStatus reads a non-2xx answer into a *StatusError wrapped with
// op.
func translateStatus(op string, resp *http.Response) error {
	typ := resp.Header.Get("X-Amzn-Errortype")
	if i := strings.IndexByte(typ, ':'); i >= 0 {
		typ = typ[:i]
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var doc struct {
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(raw, &doc)
	msg := doc.Message
	if msg == "" {
		msg = doc.MessageU
	}
	e := &StatusError{Status: resp.StatusCode, Type: typ, Message: msg}
	switch {
	case resp.StatusCode == http.StatusGone || typ == "GoneException":
		e.domain = chat.ErrGone
	case resp.StatusCode == http.StatusTooManyRequests || typ == "LimitExceededException":
		e.domain = chat.ErrThrottled
	case resp.StatusCode >= 500:
		e.domain = chat.ErrUnavailable
	}
	return fmt.Errorf("%s: %w", op, e)
}

// translateTransport maps a failed round trip: the caller's cancellation
// stays what it is; anything else (timeout, refused, reset) did not get an
// answer and is worth retrying.
func translateTransport(op string, ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, chat.ErrUnavailable, err)
}
