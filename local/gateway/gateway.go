// Package gateway emulates the WebSocket side of an API Gateway WebSocket API
// and its @connections management API on one loopback HTTP server.
//
// It performs the handshake ($connect authorizer, then the $connect
// integration, whose status decides the upgrade), routes each message by the
// route selection expression, invokes $disconnect after a close, enforces API
// Gateway's message, frame, idle and duration limits, and builds every event
// field for field as API Gateway does. Integrations are anything that can be
// invoked with a JSON payload: the emulator plugs in local Lambda functions.
package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Special route keys.
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
)

// API Gateway's quotas for WebSocket APIs.
const (
	MaxMessageBytes = 128 * 1024
	MaxFrameBytes   = 32 * 1024
	// IntegrationTimeout is the longest API Gateway waits for an integration.
	IntegrationTimeout = 29 * time.Second
	// maxInFlight bounds the messages of one connection being processed at
	// once. It is below the default instance cap of a function (10), so one
	// client that floods cannot take every instance (and dynalite's single
	// queue) from the others: on AWS, Lambda would scale out instead.
	// Messages past it wait, up to maxPending per connection, while the
	// gateway keeps reading (so it sees the peer go away); past maxPending a
	// message is answered with the throttle frame instead of being invoked.
	maxInFlight = 4
	maxPending  = 1024
	// maxOutbound bounds the messages queued for one client. A client that
	// leaves this many unread is dropped: one client that does not read must
	// not hold the callers that post to it.
	maxOutbound = 256
	// writeTimeout bounds one write to a client; a client that does not take a
	// message within it is dropped.
	writeTimeout = 5 * time.Second
)

// Invoker runs an integration: a JSON event in, a JSON result out. A failed
// invocation (function error, timeout, crash) is an error.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Route is one route of the API.
type Route struct {
	Key string
	// Integration is the AWS_PROXY integration's function; nil means the route
	// has no integration (the message is accepted and dropped).
	Integration Invoker
	// Authorizer is the REQUEST authorizer; API Gateway allows one only on $connect.
	Authorizer *Authorizer
	// Mock, when set, answers the route in the gateway (a MOCK integration);
	// Integration is then nil.
	Mock *Mock
	// TwoWay routes send the integration's response body back to the client
	// (a route response is configured).
	TwoWay bool
}

// Authorizer is a Lambda REQUEST authorizer.
type Authorizer struct {
	Name     string
	Function Invoker
	// IdentitySources are like "route.request.querystring.token" or
	// "route.request.header.Sec-WebSocket-Protocol"; when one is missing the
	// connection is refused with 401 without invoking the authorizer.
	IdentitySources []string
}

// Config configures a Gateway.
type Config struct {
	APIID     string
	Stage     string
	Region    string
	AccountID string
	// Expression is the route selection expression.
	Expression Expression
	Routes     map[string]*Route
	// IdleTimeout closes a connection without client messages (10 min on AWS).
	IdleTimeout time.Duration
	// MaxDuration closes any connection after this long (2 h on AWS).
	MaxDuration time.Duration
	// PostLatency delays each @connections call, to model AWS's round trip.
	PostLatency time.Duration
	// VanishGrace models a client whose network is gone: when the TCP peer is
	// lost without a close frame, the connection stays registered this long
	// (posts answer 200 and are discarded, GET answers) before $disconnect
	// runs. 0 runs $disconnect at once.
	VanishGrace time.Duration
	// Throttle is the stage's route throttling (DefaultRouteSettings and
	// RouteSettings); nil throttles nothing.
	Throttle *Throttle
	// AccountLimit is the account-wide rate of @connections calls (POST, GET
	// and DELETE together), answered with 429 TooManyRequestsException
	// beyond it; nil means unlimited.
	AccountLimit *Limit
	// VirtualConnections serves AdminHandler: connection ids without a
	// socket that @connections accepts and counts (benchmarks only).
	VirtualConnections bool
	// Log receives one line per connection event and failure.
	Log *slog.Logger
}

// Gateway serves the WebSocket endpoint at /<stage> and the management API at
// /<stage>/@connections/{id}.
type Gateway struct {
	cfg Config

	mu       sync.RWMutex
	conns    map[string]*connection
	closed   bool
	shutdown chan struct{}  // closed by Close: vanish graces end early
	wg       sync.WaitGroup // connection loops and their $disconnect invocations

	routesMu sync.RWMutex // guards cfg.Expression, cfg.Routes and buckets, which Reroute replaces
	buckets  *buckets
	account  *accountLimiter // nil: no account limit
	virtual  *virtualConns   // nil: no virtual connections
	usage    usageCounters
}

// New returns a Gateway.
func New(cfg Config) *Gateway {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = 2 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	g := &Gateway{cfg: cfg, conns: map[string]*connection{}, shutdown: make(chan struct{}), buckets: newBuckets(cfg.Throttle), account: newAccountLimiter(cfg.AccountLimit)}
	if cfg.VirtualConnections {
		g.virtual = &virtualConns{ids: map[string]*virtualConn{}}
	}
	return g
}

// Handler serves the WebSocket endpoint and the @connections API.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	stage := "/" + g.cfg.Stage
	mux.HandleFunc(stage, g.serveWebSocket)
	mux.HandleFunc(stage+"/{$}", g.serveWebSocket)
	mux.HandleFunc("POST "+stage+"/@connections/{id}", g.countCall(g.account.wrap(g.postToConnection)))
	mux.HandleFunc("GET "+stage+"/@connections/{id}", g.countCall(g.account.wrap(g.getConnection)))
	mux.HandleFunc("DELETE "+stage+"/@connections/{id}", g.countCall(g.account.wrap(g.deleteConnection)))
	mux.HandleFunc(stage+"/@connections/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusForbidden, "ForbiddenException", "Forbidden")
	})
	return mux
}

// Close closes every connection with 1001 Going away, as API Gateway does on a
// deployment, and waits (bounded by ctx) for their $disconnect invocations.
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		close(g.shutdown)
	}
	g.closed = true
	conns := make([]*connection, 0, len(g.conns))
	for _, c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		go c.close(websocket.StatusGoingAway, "Going away")
	}
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.lose()
		}
		return fmt.Errorf("close gateway: waiting for connections: %w", ctx.Err())
	}
}

// Reroute replaces the routes, the route selection expression and the stage
// throttling (a re-synthesized template), keeping every connection open:
// later messages are routed by the new table. Throttle buckets start full.
func (g *Gateway) Reroute(expr Expression, routes map[string]*Route, throttle *Throttle) {
	g.routesMu.Lock()
	defer g.routesMu.Unlock()
	g.cfg.Expression, g.cfg.Routes, g.cfg.Throttle = expr, routes, throttle
	g.buckets = newBuckets(throttle)
}

// routing returns the current routes, for one message or handshake.
func (g *Gateway) routing() (Expression, map[string]*Route, *buckets) {
	g.routesMu.RLock()
	defer g.routesMu.RUnlock()
	return g.cfg.Expression, g.cfg.Routes, g.buckets
}

func (g *Gateway) route(key string) *Route {
	_, routes, _ := g.routing()
	return routes[key]
}

func (g *Gateway) lookup(id string) *connection {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.conns[id]
}

// serveWebSocket performs the handshake and then runs the connection.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		apiError(w, http.StatusUpgradeRequired, "", "Upgrade Required")
		return
	}
	g.mu.RLock()
	closed := g.closed
	g.mu.RUnlock()
	if closed {
		apiError(w, http.StatusGone, "", "Going away")
		return
	}

	now := time.Now()
	hs := &handshake{
		connID:    newID(),
		requestID: newID(),
		at:        now,
		sourceIP:  sourceIP(r),
		userAgent: r.UserAgent(),
		domain:    r.Host,
	}
	log := g.cfg.Log.With("connectionId", hs.connID, "routeKey", RouteConnect)
	_, routes, bk := g.routing()
	route := routes[RouteConnect]
	if !bk.allow(RouteConnect) {
		// A throttled $connect is refused before the authorizer runs.
		log.Info("connect throttled by the stage's route settings")
		apiError(w, http.StatusTooManyRequests, "", msgTooManyRequests)
		return
	}

	var authorizer map[string]any
	if route != nil && route.Authorizer != nil {
		status, ctxMap := g.authorize(r, hs, route.Authorizer)
		if status != 0 {
			log.Info("connect refused by authorizer", "status", status, "authorizer", route.Authorizer.Name)
			apiError(w, status, "", http.StatusText(status))
			return
		}
		authorizer = ctxMap
	}

	subprotocols, ok := g.runConnect(w, r, hs, route, authorizer, log)
	if !ok {
		return
	}

	// Registered before the upgrade: API Gateway answers 101 only once the
	// connection can be posted to, so a client (or its $connect-time
	// backend) may be sent to as soon as it is connected.
	guard := &frameGuard{limit: MaxFrameBytes}
	c := newConnection(g, hs, nil, guard, authorizer)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		apiError(w, http.StatusGone, "", "Going away")
		return
	}
	g.conns[c.id] = c
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()

	ws, ok := g.accept(w, r, c, guard, subprotocols, log)
	if !ok {
		return
	}
	log.Info("connected", "subprotocol", ws.Subprotocol())
	g.usage.connects.Add(1)
	c.run()
}

// accept completes the upgrade of the registered connection c; on failure
// it deregisters c (no $disconnect: the client never got a connection).
func (g *Gateway) accept(w http.ResponseWriter, r *http.Request, c *connection, guard *frameGuard, subprotocols []string, log *slog.Logger) (*websocket.Conn, bool) {
	ws, err := websocket.Accept(&guardedWriter{ResponseWriter: w, guard: guard}, r, &websocket.AcceptOptions{
		Subprotocols: subprotocols,
		// API Gateway does not check Origin; the integration may.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		log.Warn("upgrade failed", "error", err)
		c.goneOnce.Do(func() { close(c.gone) })
		close(c.ready)
		g.mu.Lock()
		delete(g.conns, c.id)
		g.mu.Unlock()
		return nil, false
	}
	ws.SetReadLimit(MaxMessageBytes)
	c.ws = ws
	close(c.ready)
	return ws, true
}

// runConnect invokes the $connect integration, whose status decides the
// upgrade. false means it answered the client already (refused or failed).
func (g *Gateway) runConnect(w http.ResponseWriter, r *http.Request, hs *handshake, route *Route, authorizer map[string]any, log *slog.Logger) ([]string, bool) {
	if route == nil || route.Integration == nil {
		return nil, true
	}
	event := g.connectEvent(r, hs, authorizer)
	g.usage.invoked(RouteConnect)
	done := g.usage.busy()
	out, err := g.invoke(r.Context(), route.Integration, event)
	done()
	if err != nil {
		log.Error("connect integration failed", "error", err)
		apiError(w, http.StatusInternalServerError, "", "Internal server error")
		return nil, false
	}
	resp, err := parseProxyResponse(out)
	if err != nil {
		log.Error("connect integration returned a malformed response", "error", err)
		apiError(w, http.StatusInternalServerError, "", "Internal server error")
		return nil, false
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		log.Info("connect refused by integration", "status", resp.StatusCode)
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body)
		return nil, false
	}
	if p := resp.header("Sec-WebSocket-Protocol"); p != "" {
		return []string{p}, true
	}
	return nil, true
}

var errIntegrationTimeout = errors.New("integration timed out")

// invoke marshals the event and runs the integration, giving up after API
// Gateway's integration timeout (the function itself runs on, as on AWS).
func (g *Gateway) invoke(ctx context.Context, fn Invoker, event any) ([]byte, error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("marshal event: %w", err)
	}
	ctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), IntegrationTimeout, errIntegrationTimeout)
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := fn.Invoke(ctx, payload)
		ch <- result{out, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil && errors.Is(context.Cause(ctx), errIntegrationTimeout) {
			return nil, errIntegrationTimeout
		}
		return r.out, r.err
	case <-ctx.Done():
		return nil, errIntegrationTimeout
	}
}

// proxyResponse is the Lambda proxy integration's result.
type proxyResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

func (p proxyResponse) header(name string) string {
	for k, v := range p.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range p.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// parseProxyResponse reads a proxy result. A function that returns nothing
// (null) counts as 200, as API Gateway treats it on $connect.
func parseProxyResponse(out []byte) (proxyResponse, error) {
	var resp proxyResponse
	trimmed := strings.TrimSpace(string(out))
	if trimmed == "" || trimmed == "null" {
		return proxyResponse{StatusCode: http.StatusOK}, nil
	}
	if !strings.HasPrefix(trimmed, "{") {
		// Not a proxy object: the value itself is the body.
		return proxyResponse{StatusCode: http.StatusOK, Body: trimmed}, nil
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, err
	}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			resp.Body = string(b)
		}
	}
	return resp, nil
}

// apiError writes API Gateway's JSON error shape.
func apiError(w http.ResponseWriter, status int, errType, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-RequestId", newRequestUUID())
	if errType != "" {
		h.Set("x-amzn-ErrorType", errType)
	}
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"message":%s}`, jsonString(message))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
