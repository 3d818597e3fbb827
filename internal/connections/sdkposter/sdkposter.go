// Package sdkposter is the @connections client wschat used before
// internal/connections built its own requests: the SDK's
// apigatewaymanagementapi client, with its errors translated into the chat
// package's. It is kept, unchanged, only to measure the lean poster against
// (BenchmarkPost in internal/connections and the CPU-per-delivery row of
// make cost); no function links it (internal/archtest).
package sdkposter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/smithy-go"

	"github.com/wschat/wschat/internal/chat"
)

// Options tunes a Client.
type Options struct {
	// MaxConns bounds the pooled HTTP connections to the endpoint; size it to
	// the fan-out worker count. 0 means 64.
	MaxConns int
	// HTTPClient replaces the client New builds (benchmarks share one).
	HTTPClient *http.Client
}

// Client posts to the connections of one API stage.
type Client struct {
	api *apigatewaymanagementapi.Client
}

var _ chat.Poster = (*Client)(nil)

// New returns a Client for the stage endpoint callbackURL
// (https://{apiId}.execute-api.{region}.amazonaws.com/{stage}, from
// WSCHAT_CALLBACK_URL), signing with cfg's credentials (the default chain).
//
// The SDK's own retries are off: the fan-out retries throttling and server
// errors itself, with a budget and a per-call timeout, and an SDK retry
// hidden inside one call would blow both.
func New(cfg aws.Config, callbackURL string, opts Options) *Client {
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = 64
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = maxConns
		t.MaxIdleConnsPerHost = maxConns
	})
	api := apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(callbackURL)
		o.HTTPClient = hc
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
		o.Retryer = aws.NopRetryer{}
	})
	return &Client{api: api}
}

// Post sends data as one text frame to the connection. Errors wrap
// chat.ErrGone (the connection no longer exists), chat.ErrThrottled (429:
// the account's rate; also an ErrUnavailable) or chat.ErrUnavailable (a
// server error or a network failure: worth retrying).
func (c *Client) Post(ctx context.Context, connectionID string, data []byte) error {
	_, err := c.api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(connectionID),
		Data:         data,
	})
	return translate("post to connection", err)
}

// translate maps the SDK's errors of op to the domain's.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var (
		gone    *types.GoneException
		limit   *types.LimitExceededException
		respErr *awshttp.ResponseError
		api     smithy.APIError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &gone):
		return fmt.Errorf("%s: %w", op, chat.ErrGone)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case errors.As(err, &limit), errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusTooManyRequests:
		return fmt.Errorf("%s: %w: %w", op, chat.ErrThrottled, err)
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500:
		return fmt.Errorf("%s: %w: %w", op, chat.ErrUnavailable, err)
	case errors.As(err, &api) && api.ErrorFault() == smithy.FaultServer:
		return fmt.Errorf("%s: %w: %w", op, chat.ErrUnavailable, err)
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() != 0:
		return fmt.Errorf("%s: %w", op, err) // another 4xx: retrying will not help
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded), errors.As(err, &respErr):
		// No HTTP status: the request did not complete.
		return fmt.Errorf("%s: %w: %w", op, chat.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Delete closes the connection (DELETE @connections/{id}); API Gateway then
// runs $disconnect. Errors wrap chat.ErrGone or chat.ErrUnavailable as for
// Post.
func (c *Client) Delete(ctx context.Context, connectionID string) error {
	_, err := c.api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{
		ConnectionId: aws.String(connectionID),
	})
	return translate("delete connection", err)
}
