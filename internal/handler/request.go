package handler

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/logging"
)

// request is what every handler knows about the WebSocket request it
// serves, read from API Gateway's requestContext: who sent it on which
// connection, when, and the posts it may still spend.
type request struct {
	ConnectionID string
	APIRequestID string // API Gateway's request id, echoed in error frames
	RouteKey     string
	chat.Identity
	Now    time.Time // one clock reading per request, in UTC, in ms
	Budget *chat.Budget
	// Channel and ClientID of the decoded request, echoed in error frames.
	Channel, ClientID string
	// Caps is what the connection may do on which channels; the chat
	// handler sets it from the connection's stored grant (which a reauth
	// replaces), or the authorizer context, and its default.
	Caps chat.Capabilities
	// AuthUntil is when the grant the authorizer gave ends (its token's exp
	// plus the grace), zero when it has no exp.
	AuthUntil time.Time
}

// newRequest reads ev's requestContext. The request is returned even with an
// error, so that the failure can be logged with what is known.
func newRequest(ev events.APIGatewayWebsocketProxyRequest, now time.Time, budget *chat.Budget) (*request, error) {
	rc := ev.RequestContext
	rq := &request{
		ConnectionID: rc.ConnectionID,
		APIRequestID: rc.RequestID,
		RouteKey:     rc.RouteKey,
		Now:          now.UTC().Truncate(time.Millisecond),
		Budget:       budget,
	}
	if rq.ConnectionID == "" {
		return rq, errors.New("request has no requestContext.connectionId")
	}
	id, err := IdentityFromAuthorizer(rc.Authorizer, rc.ConnectionID)
	if err != nil {
		return rq, err
	}
	rq.Identity = id
	return rq, nil
}

// logContext returns ctx carrying the request's log attributes.
func (rq *request) logContext(ctx context.Context) context.Context {
	return logging.WithAttrs(ctx,
		slog.String("connectionId", rq.ConnectionID),
		slog.String("routeKey", rq.RouteKey),
		slog.String(logging.APIRequestID, rq.APIRequestID),
	)
}

// header returns the first value of a request header, matched case-
// insensitively in headers and multiValueHeaders.
func header(ev events.APIGatewayWebsocketProxyRequest, name string) string {
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range ev.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return strings.Join(vs, ",")
		}
	}
	return ""
}
