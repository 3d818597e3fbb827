// Package hook is the adapter of the before-send hook: it invokes the
// team's Lambda function synchronously (Lambda's Invoke API, SigV4-signed
// with the function role's credentials) with a wire/events.BeforeSend and
// reads its Verdict. It signs and posts with the SDK's signer over one
// HTTP transport instead of linking the whole Lambda service client into
// the chat function, which is cold-started on the send path.
package hook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/wire/events"
)

// maxResponse bounds the hook's answer (a verdict is small; Lambda allows 6 MB).
const maxResponse = 64 * 1024

// Client invokes one function.
type Client struct {
	function string
	url      string
	region   string
	creds    aws.CredentialsProvider
	signer   *v4.Signer
	http     *http.Client
	now      func() time.Time
}

// New returns a client of function (a name or ARN, with an optional
// qualifier) in cfg's region; endpoint overrides Lambda's
// (AWS_ENDPOINT_URL_LAMBDA, which the local emulator sets).
func New(cfg aws.Config, function, endpoint string) *Client {
	if endpoint == "" {
		endpoint = "https://lambda." + cfg.Region + ".amazonaws.com"
	}
	return &Client{
		function: function,
		url:      strings.TrimSuffix(endpoint, "/") + "/2015-03-31/functions/" + url.PathEscape(function) + "/invocations",
		region:   cfg.Region,
		creds:    cfg.Credentials,
		signer:   v4.NewSigner(),
		http: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}},
		now: time.Now,
	}
}

// ErrFunction is a hook that ran and failed (it returned an error, timed
// out in Lambda, or crashed): Lambda's X-Amz-Function-Error.
var ErrFunction = errors.New("hook function failed")

// Check invokes the hook with in and returns its verdict as sent; the
// caller decides what an unusable verdict means. ctx bounds the whole call
// (the caller's time budget).
func (c *Client) Check(ctx context.Context, in events.BeforeSend) (events.Verdict, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return events.Verdict{}, fmt.Errorf("hook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return events.Verdict{}, fmt.Errorf("hook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return events.Verdict{}, fmt.Errorf("hook: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", c.region, c.now()); err != nil {
		return events.Verdict{}, fmt.Errorf("hook: sign: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return events.Verdict{}, fmt.Errorf("hook %s: %w: %w", c.function, chat.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return events.Verdict{}, fmt.Errorf("hook %s: read answer: %w: %w", c.function, chat.ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return events.Verdict{}, fmt.Errorf("hook %s: invoke answered %d %s: %w", c.function, resp.StatusCode, errorType(resp), chat.ErrUnavailable)
	case resp.StatusCode != http.StatusOK:
		return events.Verdict{}, fmt.Errorf("hook %s: invoke answered %d %s", c.function, resp.StatusCode, errorType(resp))
	case resp.Header.Get("X-Amz-Function-Error") != "":
		return events.Verdict{}, fmt.Errorf("hook %s: %w (%s)", c.function, ErrFunction, resp.Header.Get("X-Amz-Function-Error"))
	case len(out) > maxResponse:
		return events.Verdict{}, fmt.Errorf("hook %s: answer over %d bytes", c.function, maxResponse)
	}
	var v events.Verdict
	if err := json.Unmarshal(out, &v); err != nil {
		return events.Verdict{}, fmt.Errorf("hook %s: answer is not a verdict: %w", c.function, err)
	}
	return v, nil
}

func errorType(resp *http.Response) string {
	if t := resp.Header.Get("X-Amzn-Errortype"); t != "" {
		return t
	}
	return resp.Status
}
