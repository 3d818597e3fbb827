package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
)

// ConnectRequest is the event API Gateway sends a WebSocket REQUEST
// authorizer on $connect. It has the JSON shape of
// events.APIGatewayCustomAuthorizerRequestTypeRequest, but its requestContext
// is the WebSocket one: that type's context has no connectionId or routeKey.
type ConnectRequest struct {
	Type                            string                                        `json:"type"`
	MethodArn                       string                                        `json:"methodArn"`
	Headers                         map[string]string                             `json:"headers"`
	MultiValueHeaders               map[string][]string                           `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string                             `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string                           `json:"multiValueQueryStringParameters"`
	StageVariables                  map[string]string                             `json:"stageVariables"`
	RequestContext                  events.APIGatewayWebsocketProxyRequestContext `json:"requestContext"`
}

// TokenVerifier checks a token; *Verifier is the production one.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (Identity, error)
}

// ErrUnauthorized is what the authorizer returns for a missing or invalid
// token. API Gateway turns exactly this message into a 401 response, hence
// the capital letter.
var ErrUnauthorized = errors.New("Unauthorized")

// ErrUnavailable is returned when tokens cannot be verified right now (the
// issuer's keys cannot be fetched). Any error other than "Unauthorized" makes
// API Gateway answer 500, which tells a client to retry later rather than
// sign in again. The connection is refused either way: the authorizer fails
// closed.
var ErrUnavailable = errors.New("authorizer: cannot verify tokens now")

// Authorizer is the $connect Lambda REQUEST authorizer.
//
// Outcomes, as API Gateway shows them to the client:
//   - 401: no token, or a token that is not a genuine, current token of the
//     issuer (malformed, too large, bad signature, unknown kid, alg
//     none/HS*, wrong iss, expired, not yet valid, missing sub or exp).
//   - 403: a genuine, current token of the issuer that is not meant for this
//     API (aud/client_id not accepted, wrong token_use), whose channel
//     grant cannot be read (channels or groups claim), or whose sub is not
//     a usable user id (wire.CheckUserID) — an explicit Deny.
//   - 500: the issuer's JWKS could not be fetched.
type Authorizer struct {
	verifier TokenVerifier
	log      *slog.Logger
}

// NewAuthorizer returns an Authorizer that verifies with v and logs to log.
func NewAuthorizer(v TokenVerifier, log *slog.Logger) *Authorizer {
	return &Authorizer{verifier: v, log: log}
}

// Handle authorizes one $connect. Its signature fits lambda.Start.
func (a *Authorizer) Handle(ctx context.Context, req ConnectRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	log := a.log.With(
		slog.String("connectionId", req.RequestContext.ConnectionID),
		slog.String(logging.APIRequestID, req.RequestContext.RequestID),
		slog.String("routeKey", req.RequestContext.RouteKey),
	)
	if req.MethodArn == "" {
		log.WarnContext(ctx, "connect refused", slog.String("reason", string(ReasonBadRequest)))
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	token, source, err := TokenFromRequest(req)
	if err == nil {
		var id Identity
		id, err = a.verifier.Verify(ctx, token)
		if err == nil {
			log.InfoContext(ctx, "connect authorized", slog.String("userId", id.UserID), slog.String("tokenSource", source),
				slog.String("channelsFrom", id.ChannelsFrom))
			return allow(req.MethodArn, id), nil
		}
	}

	reason := ReasonOf(err)
	attrs := []any{slog.String("reason", string(reason)), slog.String("tokenSource", source)}
	switch reason {
	case ReasonKeysUnavailable:
		// The error text is built from fixed strings, our JWKS URL and the
		// HTTP error; never from the token.
		log.ErrorContext(ctx, "connect refused: cannot verify tokens", append(attrs, logging.Err(err))...)
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnavailable
	case "":
		// Not a rejection we know: the text may come from anywhere, so it is
		// not logged; fail closed with a 500.
		attrs[0] = slog.String("reason", "internal")
		log.ErrorContext(ctx, "connect refused: unexpected verifier error", attrs...)
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnavailable
	case ReasonAudience, ReasonTokenUse, ReasonCapabilities, ReasonBadSubject:
		log.WarnContext(ctx, "connect denied", attrs...)
		return deny(req.MethodArn, "forbidden"), nil
	default:
		log.WarnContext(ctx, "connect refused", attrs...)
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
}

// Where a token was found, for logs.
const (
	SourceQuery       = "query"
	SourceSubprotocol = "subprotocol"
	SourceNone        = "none"
)

// TokenFromRequest finds the client's token: the "token" query parameter, or
// else the entry of Sec-WebSocket-Protocol that is not the wschat.v1
// subprotocol (browsers cannot set any other header on a WebSocket upgrade).
// It returns the token and where it came from.
func TokenFromRequest(req ConnectRequest) (token, source string, err error) {
	if t := queryParam(req, contract.TokenQueryParameter); t != "" {
		return t, SourceQuery, nil
	}
	var protos []string
	for _, v := range headerValues(req, "Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" && p != contract.SubprotocolName {
				protos = append(protos, p)
			}
		}
	}
	switch len(protos) {
	case 0:
		return "", SourceNone, reject(ReasonMissing, "no token query parameter or subprotocol entry")
	case 1:
		return protos[0], SourceSubprotocol, nil
	default:
		return "", SourceSubprotocol, reject(ReasonMalformed, "more than one candidate token in Sec-WebSocket-Protocol")
	}
}

func queryParam(req ConnectRequest, name string) string {
	if v := req.QueryStringParameters[name]; v != "" {
		return v
	}
	for _, v := range req.MultiValueQueryStringParameters[name] {
		if v != "" {
			return v
		}
	}
	return ""
}

// headerValues returns every value of the named header, matching names
// case-insensitively as HTTP does. multiValueHeaders, when present, already
// holds everything in headers.
func headerValues(req ConnectRequest, name string) []string {
	var out []string
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	if len(out) > 0 {
		return out
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			out = append(out, v)
		}
	}
	return out
}

// allow passes the identity, and the channel capabilities when the token
// carries them, in the context: API Gateway hands it to every route of the
// connection. The capabilities are absent, not empty, for a token without
// the claim, so the handlers can apply the environment's default.
func allow(methodArn string, id Identity) events.APIGatewayCustomAuthorizerResponse {
	ctx := map[string]any{
		contract.AuthContextUserID:   id.UserID,
		contract.AuthContextUserName: id.UserName,
	}
	if id.Channels != "" {
		ctx[contract.AuthContextChannels] = id.Channels
	}
	// exp and iat let the handlers end the connection's grant when the token
	// expires and refuse it after a revocation (strings: context values are).
	if !id.ExpiresAt.IsZero() {
		ctx[contract.AuthContextExpires] = strconv.FormatInt(id.ExpiresAt.Unix(), 10)
	}
	if !id.IssuedAt.IsZero() {
		ctx[contract.AuthContextIssuedAt] = strconv.FormatInt(id.IssuedAt.Unix(), 10)
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    id.UserID,
		PolicyDocument: policy("Allow", methodArn),
		Context:        ctx,
	}
}

func deny(methodArn, principal string) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    principal,
		PolicyDocument: policy("Deny", methodArn),
	}
}

func policy(effect, methodArn string) events.APIGatewayCustomAuthorizerPolicy {
	return events.APIGatewayCustomAuthorizerPolicy{
		Version: "2012-10-17",
		Statement: []events.IAMPolicyStatement{{
			Action:   []string{"execute-api:Invoke"},
			Effect:   effect,
			Resource: []string{methodArn},
		}},
	}
}
