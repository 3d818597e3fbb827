package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"
)

// Sample describes one event to build exactly as the gateway builds it for a
// live connection, but with every id, time and random header given, so the
// result is reproducible: the emulator's sample events (`go run ./local
// invoke`) are generated from it and checked against it, so they cannot
// drift from what the functions receive.
type Sample struct {
	// RouteKey is $connect, $disconnect, $default or a message route's key.
	RouteKey string
	// Authorizer builds the REQUEST authorizer's event of the $connect
	// handshake instead of the route's event.
	Authorizer bool
	// Body is the frame of a message route (text).
	Body string
	// ConnectionID, RequestID and MessageID are the event's ids.
	ConnectionID, RequestID, MessageID string
	// At is both connectedAt and the request time.
	At time.Time
	// Host is the Host header and requestContext.domainName.
	Host                string
	SourceIP, UserAgent string
	// Query and Header are the $connect request's query and headers.
	Query  url.Values
	Header http.Header
	// TraceID is the X-Amzn-Trace-Id API Gateway adds to $connect.
	TraceID string
	// AuthContext is requestContext.authorizer (the authorizer's context,
	// principalId and integrationLatency), on every route but the authorizer's.
	AuthContext map[string]any
	// DisconnectCode and DisconnectReason are $disconnect's.
	DisconnectCode   int
	DisconnectReason string
}

// SampleEvent returns the JSON event of s, indented.
func (g *Gateway) SampleEvent(s Sample) ([]byte, error) {
	if s.RouteKey == "" || s.ConnectionID == "" || s.RequestID == "" || s.Host == "" || s.At.IsZero() {
		return nil, errors.New("sample event: RouteKey, ConnectionID, RequestID, Host and At are required")
	}
	hs := &handshake{connID: s.ConnectionID, requestID: s.RequestID, at: s.At, sourceIP: s.SourceIP, userAgent: s.UserAgent, domain: s.Host}
	c := &connection{g: g, id: s.ConnectionID, domainName: s.Host, connectedAt: s.At, userAgent: s.UserAgent, sourceIP: s.SourceIP, authorizer: s.AuthContext}
	var ev any
	switch {
	case s.Authorizer || s.RouteKey == RouteConnect:
		u := &url.URL{Scheme: "http", Host: s.Host, Path: "/" + g.cfg.Stage, RawQuery: s.Query.Encode()}
		r := &http.Request{Method: http.MethodGet, URL: u, Host: s.Host, Header: s.Header.Clone()}
		if r.Header == nil {
			r.Header = http.Header{}
		}
		if s.Authorizer {
			a := g.authorizerEvent(r, hs)
			fixTrace(a.Headers, a.MultiValueHeaders, s.TraceID)
			ev = a
			break
		}
		e := g.connectEvent(r, hs, s.AuthContext)
		fixTrace(e.Headers, e.MultiValueHeaders, s.TraceID)
		ev = e
	case s.RouteKey == RouteDisconnect:
		e := c.disconnectEvent(s.DisconnectCode, s.DisconnectReason)
		fixTimes(&e.RequestContext, s)
		ev = e
	default:
		e := c.messageEvent(s.RouteKey, s.RequestID, websocket.MessageText, []byte(s.Body))
		fixTimes(&e.RequestContext, s)
		e.RequestContext.MessageID = s.MessageID
		ev = e
	}
	return json.MarshalIndent(ev, "", "  ")
}

// fixTrace replaces the random trace id the builder added.
func fixTrace(single map[string]string, multi map[string][]string, trace string) {
	single["X-Amzn-Trace-Id"] = trace
	multi["X-Amzn-Trace-Id"] = []string{trace}
}

// fixTimes replaces the builder's "now" and random request id.
func fixTimes(rc *requestContext, s Sample) {
	rc.RequestID, rc.ExtendedRequestID = s.RequestID, s.RequestID
	rc.RequestTime = s.At.UTC().Format(requestTimeLayout)
	rc.RequestTimeEpoch = s.At.UnixMilli()
}
