package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// event is the Lambda proxy event of a WebSocket route. Field order and
// omissions follow what API Gateway sends (compare aws-lambda-go's
// events/testdata/apigw-websocket-request-*.json).
type event struct {
	Headers                         map[string]string   `json:"headers,omitempty"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders,omitempty"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters,omitempty"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters,omitempty"`
	RequestContext                  requestContext      `json:"requestContext"`
	Body                            *string             `json:"body,omitempty"`
	IsBase64Encoded                 bool                `json:"isBase64Encoded"`
}

type requestContext struct {
	RouteKey             string         `json:"routeKey"`
	DisconnectStatusCode *int           `json:"disconnectStatusCode,omitempty"`
	MessageID            string         `json:"messageId,omitempty"`
	EventType            string         `json:"eventType"`
	ExtendedRequestID    string         `json:"extendedRequestId"`
	RequestTime          string         `json:"requestTime"`
	MessageDirection     string         `json:"messageDirection"`
	DisconnectReason     *string        `json:"disconnectReason,omitempty"`
	Stage                string         `json:"stage"`
	ConnectedAt          int64          `json:"connectedAt"`
	RequestTimeEpoch     int64          `json:"requestTimeEpoch"`
	Identity             identity       `json:"identity"`
	RequestID            string         `json:"requestId"`
	DomainName           string         `json:"domainName"`
	ConnectionID         string         `json:"connectionId"`
	APIID                string         `json:"apiId"`
	Authorizer           map[string]any `json:"authorizer,omitempty"`
}

type identity struct {
	UserAgent string `json:"userAgent,omitempty"`
	SourceIP  string `json:"sourceIp"`
}

// authorizerEvent is the REQUEST authorizer's event on a WebSocket $connect
// (events.APIGatewayCustomAuthorizerRequestTypeRequest, with the WebSocket
// request context API Gateway sends).
type authorizerEvent struct {
	Type                            string              `json:"type"`
	MethodArn                       string              `json:"methodArn"`
	Headers                         map[string]string   `json:"headers"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	StageVariables                  map[string]string   `json:"stageVariables"`
	RequestContext                  requestContext      `json:"requestContext"`
}

// handshake is what is known about a connection before it is accepted.
type handshake struct {
	connID    string
	requestID string
	at        time.Time
	sourceIP  string
	userAgent string
	domain    string
}

const requestTimeLayout = "02/Jan/2006:15:04:05 -0700"

func (g *Gateway) baseContext(routeKey, eventType, connID, requestID, domain string, connectedAt, at time.Time, id identity, auth map[string]any) requestContext {
	return requestContext{
		RouteKey:          routeKey,
		EventType:         eventType,
		ExtendedRequestID: requestID,
		RequestTime:       at.UTC().Format(requestTimeLayout),
		MessageDirection:  "IN",
		Stage:             g.cfg.Stage,
		ConnectedAt:       connectedAt.UnixMilli(),
		RequestTimeEpoch:  at.UnixMilli(),
		Identity:          id,
		RequestID:         requestID,
		DomainName:        domain,
		ConnectionID:      connID,
		APIID:             g.cfg.APIID,
		Authorizer:        auth,
	}
}

func (g *Gateway) connectEvent(r *http.Request, hs *handshake, auth map[string]any) event {
	headers, multi := requestHeaders(r, hs)
	query, multiQuery := queryParameters(r)
	return event{
		Headers:                         headers,
		MultiValueHeaders:               multi,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		RequestContext: g.baseContext(RouteConnect, "CONNECT", hs.connID, hs.requestID, hs.domain, hs.at, hs.at,
			identity{UserAgent: hs.userAgent, SourceIP: hs.sourceIP}, auth),
	}
}

func (c *connection) messageEvent(routeKey, requestID string, typ websocket.MessageType, data []byte) event {
	body := string(data)
	binary := typ == websocket.MessageBinary
	if binary {
		body = base64.StdEncoding.EncodeToString(data)
	}
	rc := c.g.baseContext(routeKey, "MESSAGE", c.id, requestID, c.domainName, c.connectedAt, time.Now(),
		identity{UserAgent: c.userAgent, SourceIP: c.sourceIP}, c.authorizer)
	rc.MessageID = newID()
	return event{RequestContext: rc, Body: &body, IsBase64Encoded: binary}
}

func (c *connection) disconnectEvent(code int, reason string) event {
	requestID := newID()
	rc := c.g.baseContext(RouteDisconnect, "DISCONNECT", c.id, requestID, c.domainName, c.connectedAt, time.Now(),
		identity{UserAgent: c.userAgent, SourceIP: c.sourceIP}, c.authorizer)
	rc.DisconnectStatusCode = &code
	rc.DisconnectReason = &reason
	// API Gateway sends these four headers on $disconnect, whatever the client sent.
	headers := map[string]string{"Host": c.domainName, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
	multi := map[string][]string{}
	for k, v := range headers {
		multi[k] = []string{v}
	}
	return event{Headers: headers, MultiValueHeaders: multi, RequestContext: rc}
}

// headerCase restores the spelling clients send for headers that Go's server
// canonicalizes differently; API Gateway passes the client's spelling, and
// handlers look these up by it.
var headerCase = map[string]string{
	"Sec-Websocket-Key":        "Sec-WebSocket-Key",
	"Sec-Websocket-Version":    "Sec-WebSocket-Version",
	"Sec-Websocket-Protocol":   "Sec-WebSocket-Protocol",
	"Sec-Websocket-Extensions": "Sec-WebSocket-Extensions",
}

// requestHeaders are the upgrade request's headers plus those API Gateway adds.
func requestHeaders(r *http.Request, hs *handshake) (map[string]string, map[string][]string) {
	headers := map[string]string{}
	multi := map[string][]string{}
	for k, vs := range r.Header {
		if len(vs) == 0 {
			continue
		}
		if fixed, ok := headerCase[k]; ok {
			k = fixed
		}
		headers[k] = strings.Join(vs, ",")
		multi[k] = append([]string(nil), vs...)
	}
	headers["Host"] = r.Host
	multi["Host"] = []string{r.Host}
	port := "80"
	if i := strings.LastIndexByte(r.Host, ':'); i >= 0 {
		port = r.Host[i+1:]
	}
	for k, v := range map[string]string{
		"X-Amzn-Trace-Id":   "Root=1-" + strconv.FormatInt(hs.at.Unix(), 16) + "-" + newHex(12),
		"X-Forwarded-For":   hs.sourceIP,
		"X-Forwarded-Port":  port,
		"X-Forwarded-Proto": "http",
	} {
		headers[k] = v
		multi[k] = []string{v}
	}
	return headers, multi
}

func queryParameters(r *http.Request) (map[string]string, map[string][]string) {
	q := r.URL.Query()
	if len(q) == 0 {
		return nil, nil
	}
	single := map[string]string{}
	multi := map[string][]string{}
	for k, vs := range q {
		single[k] = vs[len(vs)-1]
		multi[k] = vs
	}
	return single, multi
}

// authorizerEvent is the REQUEST authorizer's event for a handshake.
func (g *Gateway) authorizerEvent(r *http.Request, hs *handshake) authorizerEvent {
	headers, multi := requestHeaders(r, hs)
	query, multiQuery := queryParameters(r)
	if query == nil {
		query, multiQuery = map[string]string{}, map[string][]string{}
	}
	return authorizerEvent{
		Type:                            "REQUEST",
		MethodArn:                       "arn:aws:execute-api:" + g.cfg.Region + ":" + g.cfg.AccountID + ":" + g.cfg.APIID + "/" + g.cfg.Stage + "/" + RouteConnect,
		Headers:                         headers,
		MultiValueHeaders:               multi,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		StageVariables:                  map[string]string{},
		RequestContext: g.baseContext(RouteConnect, "CONNECT", hs.connID, hs.requestID, hs.domain, hs.at, hs.at,
			identity{UserAgent: hs.userAgent, SourceIP: hs.sourceIP}, nil),
	}
}

// authorize runs the REQUEST authorizer. It returns 0 and the connection's
// requestContext.authorizer on Allow, or the HTTP status that refuses the
// handshake: 401 for a missing identity source or an "Unauthorized" error,
// 403 for a Deny, 500 when the authorizer fails.
func (g *Gateway) authorize(r *http.Request, hs *handshake, a *Authorizer) (int, map[string]any) {
	log := g.cfg.Log.With("connectionId", hs.connID, "authorizer", a.Name)
	for _, src := range a.IdentitySources {
		if !identityPresent(r, src) {
			log.Info("identity source missing", "identitySource", src)
			return http.StatusUnauthorized, nil
		}
	}
	ev := g.authorizerEvent(r, hs)
	methodArn := ev.MethodArn
	start := time.Now()
	g.usage.invoked("authorizer")
	out, err := g.invoke(r.Context(), a.Function, ev)
	latency := time.Since(start)
	if err != nil {
		var fe interface{ ErrorMessage() string }
		if errors.As(err, &fe) && fe.ErrorMessage() == "Unauthorized" {
			return http.StatusUnauthorized, nil
		}
		log.Error("authorizer failed", "error", err)
		return http.StatusInternalServerError, nil
	}
	var resp authorizerResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		log.Error("authorizer returned a malformed response", "error", err)
		return http.StatusInternalServerError, nil
	}
	for k, v := range resp.Context {
		switch v.(type) {
		case string, float64, bool:
		default:
			log.Error("authorizer context values must be strings, numbers or booleans", "key", k)
			return http.StatusInternalServerError, nil
		}
	}
	if !resp.allows(methodArn) {
		return http.StatusForbidden, nil
	}
	auth := map[string]any{}
	for k, v := range resp.Context {
		auth[k] = v
	}
	auth["principalId"] = resp.PrincipalID
	auth["integrationLatency"] = latency.Milliseconds()
	return 0, auth
}

// identityPresent reports whether a WebSocket identity source has a non-empty value.
func identityPresent(r *http.Request, src string) bool {
	for _, p := range []string{"route.request.header.", "$request.header."} {
		if name, ok := strings.CutPrefix(src, p); ok {
			for _, v := range r.Header.Values(name) {
				if strings.TrimSpace(v) != "" {
					return true
				}
			}
			return false
		}
	}
	for _, p := range []string{"route.request.querystring.", "$request.querystring."} {
		if name, ok := strings.CutPrefix(src, p); ok {
			return r.URL.Query().Get(name) != ""
		}
	}
	if strings.HasPrefix(src, "context.") || strings.HasPrefix(src, "$context.") {
		return true
	}
	// Stage variables: the emulator's stages have none.
	return false
}

// authorizerResponse is a REQUEST authorizer's IAM policy output. Action and
// Resource may each be a string or a list, as in any IAM policy.
type authorizerResponse struct {
	PrincipalID    string `json:"principalId"`
	PolicyDocument struct {
		Statement []struct {
			Effect   string      `json:"Effect"`
			Action   stringOrSet `json:"Action"`
			Resource stringOrSet `json:"Resource"`
		} `json:"Statement"`
	} `json:"policyDocument"`
	Context map[string]any `json:"context"`
}

type stringOrSet []string

func (s *stringOrSet) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// allows evaluates the policy for execute-api:Invoke on methodArn: an explicit
// Deny wins, otherwise an Allow is needed.
func (r authorizerResponse) allows(methodArn string) bool {
	allowed := false
	for _, st := range r.PolicyDocument.Statement {
		if !matchesAny(st.Action, "execute-api:Invoke") || !matchesAny(st.Resource, methodArn) {
			continue
		}
		switch {
		case strings.EqualFold(st.Effect, "Deny"):
			return false
		case strings.EqualFold(st.Effect, "Allow"):
			allowed = true
		}
	}
	return allowed
}

func matchesAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

// globMatch matches IAM wildcards: * any run of characters, ? one character.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			px = starP + 1
			starS++
			sx = starS
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// newID returns a 16-character id in the shape of API Gateway's connection
// and request ids ("L0SM9cOFvHcCIhw="). It avoids "/" so an id is always one
// URL path segment.
func newID() string {
	for {
		var b [11]byte
		_, _ = rand.Read(b[:])
		id := base64.StdEncoding.EncodeToString(b[:])
		if !strings.Contains(id, "/") {
			return id
		}
	}
}

func newHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newRequestUUID() string {
	h := newHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// unescapeID decodes a connection id taken from a URL path.
func unescapeID(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
