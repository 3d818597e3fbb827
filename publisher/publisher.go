// Package publisher is the Go client of wschat's publish API, for backend
// services: post a message to a channel, a notice to every connection of a
// user, or disconnect a user. Requests are signed with SigV4 by
// aws-sdk-go-v2's own signer, with credentials from the SDK's chain (pass
// the aws.Config of config.LoadDefaultConfig): the service's IAM role,
// which the stack's PublishAPI.GrantPublish allowed. Throttling (429) and
// server errors (5xx) are retried with jittered backoff; every other error
// response is an *Error that errors.Is matches against ErrInvalid,
// ErrForbidden, ErrNotFound, ErrConflict, ErrTooLarge, ErrThrottled or
// ErrServer.
//
// It also manages who may use what: private channels' member lists
// (CreatePrivate, AddMember, RemoveMember, Members) and revocation
// (Revoke).
//
// A channel message is idempotent per (channel, caller, id): retrying with
// the same id returns the same seq and stores nothing new.
package publisher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wschat/wschat/wire"
)

// Options configure a Client.
type Options struct {
	// Endpoint is the stage's URL: the stack's PublishURL output, or
	// http://127.0.0.1:PORT/@http/<stage> on the local emulator.
	Endpoint string
	// Region the API is in (the SigV4 scope).
	Region string
	// Credentials sign requests (an aws.Config's Credentials).
	Credentials aws.CredentialsProvider
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one call (default 4); BaseDelay is the
	// first backoff (default 100 ms), doubled on each retry, with full jitter.
	MaxAttempts int
	BaseDelay   time.Duration
}

// Client calls the publish API. It is safe for concurrent use.
type Client struct {
	opts   Options
	base   *url.URL
	signer *v4.Signer
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	base, err := url.Parse(strings.TrimSuffix(opts.Endpoint, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("publisher: endpoint %q is not an http(s) URL", opts.Endpoint)
	}
	if opts.Region == "" || opts.Credentials == nil {
		return nil, errors.New("publisher: region and credentials are required")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 4
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 100 * time.Millisecond
	}
	return &Client{opts: opts, base: base, signer: v4.NewSigner()}, nil
}

// NewFromConfig is New with cfg's region and credentials (the SDK's chain).
func NewFromConfig(cfg aws.Config, endpoint string) (*Client, error) {
	return New(Options{Endpoint: endpoint, Region: cfg.Region, Credentials: cfg.Credentials})
}

// Published is a stored channel message: in history once returned.
type Published = wire.Published

// Notified says how many live connections of the user got a notice.
type Notified = wire.Notified

// Disconnected says how many connections of the user were closed.
type Disconnected = wire.Disconnected

// Publish posts text to channel; id makes it idempotent (a retry with the
// same id and text gets the same seq).
func (c *Client) Publish(ctx context.Context, channel, id, text string) (Published, error) {
	var out Published
	body, _ := json.Marshal(wire.Publish{Text: text, ID: id})
	method, path := route(wire.PublishRouteChannelMessage, channel)
	err := c.do(ctx, method, path, nil, body, &out)
	return out, err
}

// Notify sends a notice to every live connection of userID; id is optional
// and echoed to the clients.
func (c *Client) Notify(ctx context.Context, userID, id, text string) (Notified, error) {
	var out Notified
	body, _ := json.Marshal(wire.NoticeBody{Text: text, ID: id})
	method, path := route(wire.PublishRouteUserMessage, userID)
	err := c.do(ctx, method, path, nil, body, &out)
	return out, err
}

// Disconnect closes every connection of userID.
func (c *Client) Disconnect(ctx context.Context, userID string) (Disconnected, error) {
	var out Disconnected
	method, path := route(wire.PublishRouteUserConnections, userID)
	err := c.do(ctx, method, path, nil, nil, &out)
	return out, err
}

// route fills the {parameters} of a wire route key with params in order,
// each escaped as one path segment, and returns its method and path.
func route(key string, params ...string) (method, path string) {
	method, path, _ = strings.Cut(key, " ")
	for _, p := range params {
		open, end := strings.Index(path, "{"), strings.Index(path, "}")
		path = path[:open] + url.PathEscape(p) + path[end+1:]
	}
	return method, path
}

// do sends one call, retrying throttling, server errors and network
// failures; each attempt is signed afresh (the signature is dated).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	var last error
	for attempt := 0; attempt < c.opts.MaxAttempts; attempt++ {
		if attempt > 0 {
			backoff := c.opts.BaseDelay << (attempt - 1)
			t := time.NewTimer(time.Duration(rand.Int64N(int64(backoff)) + 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(ctx.Err(), last)
			case <-t.C:
			}
		}
		status, data, err := c.once(ctx, method, path, query, body)
		if err != nil {
			last = err
			if ctx.Err() != nil {
				return err
			}
			continue
		}
		if status >= 200 && status < 300 {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("publisher: %s %s: answer is not JSON: %w", method, path, err)
			}
			return nil
		}
		last = newError(status, data)
		if status != http.StatusTooManyRequests && status < 500 {
			return last
		}
	}
	return last
}

func (c *Client) once(ctx context.Context, method, path string, query url.Values, body []byte) (int, []byte, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = c.base.EscapedPath() + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	creds, err := c.opts.Credentials.Retrieve(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("publisher: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", c.opts.Region, time.Now()); err != nil {
		return 0, nil, fmt.Errorf("publisher: sign: %w", err)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("publisher: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("publisher: %s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, data, nil
}
