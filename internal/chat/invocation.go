package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wschat/internal/protocol"
)

// Poster posts one frame to one connection: the @connections adapter, with
// retries (fanout.Fanout.Post).
type Poster interface {
	Post(ctx context.Context, connectionID string, frame []byte) error
}

// Broadcaster posts one frame to every member of a channel, spending budget
// (fanout.Fanout.Broadcast). An error means members could not be read.
type Broadcaster interface {
	Broadcast(ctx context.Context, budget *Budget, channel string, frame []byte) (FanoutStats, error)
}

// invocation is what every handler knows about the request it serves.
type invocation struct {
	ConnectionID string
	RequestID    string
	RouteKey     string
	Identity
	Now    time.Time // one clock reading per request, in UTC, in ms
	Budget *Budget
}

func newInvocation(req events.APIGatewayWebsocketProxyRequest, now time.Time, budget *Budget) (*invocation, error) {
	rc := req.RequestContext
	inv := &invocation{
		ConnectionID: rc.ConnectionID,
		RequestID:    rc.RequestID,
		RouteKey:     rc.RouteKey,
		Now:          now.UTC().Truncate(time.Millisecond),
		Budget:       budget,
	}
	if inv.ConnectionID == "" {
		return inv, errors.New("request has no requestContext.connectionId")
	}
	id, err := IdentityFromAuthorizer(rc.Authorizer, rc.ConnectionID)
	if err != nil {
		return inv, err
	}
	inv.Identity = id
	return inv, nil
}

// logContext returns ctx carrying the request's log attributes.
func (inv *invocation) logContext(ctx context.Context) context.Context {
	return withLogAttrs(ctx,
		slog.String("connectionId", inv.ConnectionID),
		slog.String("routeKey", inv.RouteKey),
		slog.String("requestId", inv.RequestID),
	)
}

// replier posts events to the connection that made the request.
type replier struct {
	poster Poster
	log    *slog.Logger
}

// reply posts e to the requester. A requester that is already gone is not
// an error: its $disconnect cleans up.
func (r replier) reply(ctx context.Context, inv *invocation, e protocol.Event) error {
	frame, err := protocol.Encode(e)
	if err != nil {
		return fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	if err := r.poster.Post(ctx, inv.ConnectionID, frame); err != nil {
		if errors.Is(err, ErrGone) {
			r.log.LogAttrs(ctx, slog.LevelDebug, "requester gone", slog.String("event", e.EventType()))
			return nil
		}
		return fmt.Errorf("reply %s: %w", e.EventType(), err)
	}
	return nil
}

// encodeFrame encodes an event for a broadcast.
func encodeFrame(e protocol.Event) ([]byte, error) {
	frame, err := protocol.Encode(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	return frame, nil
}

// header returns the first value of a request header, matched case-
// insensitively in headers and multiValueHeaders.
func header(req events.APIGatewayWebsocketProxyRequest, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return strings.Join(vs, ",")
		}
	}
	return ""
}
