// Package httpapi emulates an API Gateway HTTP API (payload format 2.0,
// Lambda proxy integrations) on the emulator's port, with IAM authorization
// emulated for real: an AWS_IAM route refuses a request unless its SigV4
// signature verifies against the emulator's local credentials (sigv4.Verifier).
// The same check guards the WebSocket API's @connections endpoint.
//
// Like local/gateway it is generic: it knows routes, not wschat.
package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/sigv4"
)

// Invoker runs an integration: a JSON event in, a JSON result out.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Route is one route: "METHOD /path/{param}".
type Route struct {
	Key         string
	Method      string
	Path        string
	IAM         bool // AWS_IAM authorization
	Integration Invoker
}

// Config configures a Server.
type Config struct {
	APIID, Stage, Region, AccountID string
	// Prefix is where the stage is served on the emulator's port, such as
	// "/@http/dev"; request paths below it are matched against the routes.
	Prefix string
	Routes []*Route
	// Rate and Burst are the stage's default route throttling; 0 disables.
	Rate  float64
	Burst int
	// Verifier checks AWS_IAM routes; CallerARN is the principal a verified
	// request is attributed to (the local credentials' identity).
	Verifier  *sigv4.Verifier
	CallerARN string
	Log       *slog.Logger
}

// Limits of HTTP APIs.
const (
	MaxBodyBytes       = 10 << 20
	IntegrationTimeout = 30 * time.Second
)

// Server serves one HTTP API stage.
type Server struct {
	cfg Config
	mu  sync.Mutex
	// token bucket of the stage
	tokens float64
	last   time.Time
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, tokens: float64(cfg.Burst), last: time.Now()}
}

// allow takes one token of the stage's bucket.
func (s *Server) allow() bool {
	if s.cfg.Rate <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.tokens = min(float64(s.cfg.Burst), s.tokens+now.Sub(s.last).Seconds()*s.cfg.Rate)
	s.last = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// match finds the route of method and path (escaped), with its parameters.
func (s *Server) match(method, escapedPath string) (*Route, map[string]string, bool) {
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	for _, r := range s.cfg.Routes {
		if r.Method != method && r.Method != "ANY" {
			continue
		}
		pat := strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
		if len(pat) != len(segs) {
			continue
		}
		params, ok := map[string]string{}, true
		for i, p := range pat {
			if name, isParam := strings.CutPrefix(p, "{"); isParam {
				v, good := unescape(segs[i])
				if !good || v == "" {
					ok = false
					break
				}
				params[strings.TrimSuffix(name, "}")] = v
			} else if p != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return r, params, true
		}
	}
	return nil, nil, false
}

// ServeHTTP handles one request in API Gateway's order: route, throttle,
// body limit, authorization, integration.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	escaped := strings.TrimPrefix(r.URL.EscapedPath(), s.cfg.Prefix)
	route, params, ok := s.match(r.Method, escaped)
	if !ok {
		writeError(w, http.StatusNotFound, "", "Not Found")
		return
	}
	if !s.allow() {
		writeError(w, http.StatusTooManyRequests, "", "Too Many Requests")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "Bad Request")
		return
	}
	if len(body) > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "", "Request Entity Too Large")
		return
	}
	if route.IAM {
		if err := s.cfg.Verifier.Verify(r, body); err != nil {
			s.cfg.Log.Info("refused", "routeKey", route.Key, "reason", err.Error())
			Deny(w, err)
			return
		}
	}
	payload, err := json.Marshal(s.event(r, route, params, body, escaped))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "Internal Server Error")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), IntegrationTimeout)
	defer cancel()
	out, err := route.Integration.Invoke(ctx, payload)
	if err != nil {
		s.cfg.Log.Warn("integration failed", "routeKey", route.Key, "error", err.Error())
		status := http.StatusInternalServerError
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, "", http.StatusText(status))
		return
	}
	writeResult(w, out)
}

// event builds the payload format 2.0 event as API Gateway does.
func (s *Server) event(r *http.Request, route *Route, params map[string]string, body []byte, path string) events.APIGatewayV2HTTPRequest {
	now := time.Now().UTC()
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	headers["host"] = r.Host
	query := map[string]string{}
	for k, v := range r.URL.Query() {
		query[k] = strings.Join(v, ",")
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	reqID := newRequestID()
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: route.Key, RawPath: "/" + s.cfg.Stage + path, RawQueryString: r.URL.RawQuery,
		Headers: headers, PathParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: route.Key, AccountID: s.cfg.AccountID, Stage: s.cfg.Stage, RequestID: reqID,
			APIID: s.cfg.APIID, DomainName: r.Host, DomainPrefix: s.cfg.APIID,
			Time: now.Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: "/" + s.cfg.Stage + path, Protocol: r.Proto, SourceIP: ip, UserAgent: r.UserAgent(),
			},
		},
	}
	if s.cfg.Stage == "$default" {
		ev.RawPath, ev.RequestContext.HTTP.Path = path, path
	}
	if len(query) > 0 {
		ev.QueryStringParameters = query
	}
	if route.IAM {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
				AccessKey: s.cfg.Verifier.Creds.AccessKeyID, AccountID: s.cfg.AccountID,
				CallerID: "AIDALOCAL", UserARN: s.cfg.CallerARN, UserID: "AIDALOCAL",
			},
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

// writeResult answers with the integration's result: a {statusCode,
// headers, body} object, or any other JSON as a 200 body (format 2.0 rule).
func writeResult(w http.ResponseWriter, out []byte) {
	var res struct {
		StatusCode      int               `json:"statusCode"`
		Headers         map[string]string `json:"headers"`
		Body            string            `json:"body"`
		IsBase64Encoded bool              `json:"isBase64Encoded"`
	}
	if json.Unmarshal(out, &res) != nil || res.StatusCode == 0 {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
		return
	}
	for k, v := range res.Headers {
		w.Header().Set(k, v)
	}
	data := []byte(res.Body)
	if res.IsBase64Encoded {
		if d, err := base64.StdEncoding.DecodeString(res.Body); err == nil {
			data = d
		}
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(data)
}

func newRequestID() string {
	return strings.ReplaceAll(time.Now().UTC().Format("20060102150405.000000000"), ".", "")
}

// Deny writes API Gateway's 403 answer for err.
func Deny(w http.ResponseWriter, err error) {
	ae, ok := err.(*sigv4.AuthError)
	if !ok {
		ae = &sigv4.AuthError{Type: "ForbiddenException", Message: "Forbidden"}
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
