package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/testkit"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

const fixtureMethodArn = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/dev/$connect"

// loadConnect reads the $connect authorizer event fixture (the shape API
// Gateway sends a WebSocket REQUEST authorizer) and lets edit change it.
func loadConnect(t *testing.T, edit func(*ConnectRequest)) ConnectRequest {
	t.Helper()
	b, err := os.ReadFile("testdata/connect.json")
	if err != nil {
		t.Fatal(err)
	}
	var req ConnectRequest
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&req)
	}
	return req
}

func withQuery(token string) func(*ConnectRequest) {
	return func(r *ConnectRequest) {
		r.QueryStringParameters = map[string]string{"token": token}
		r.MultiValueQueryStringParameters = map[string][]string{"token": {token}}
	}
}

// withProtocol sets Sec-WebSocket-Protocol the way API Gateway passes it:
// in headers (under the client's spelling) and in multiValueHeaders.
func withProtocol(name string, values ...string) func(*ConnectRequest) {
	return func(r *ConnectRequest) {
		r.Headers[name] = strings.Join(values, ",")
		r.MultiValueHeaders[name] = values
	}
}

type outcome int

const (
	allowed      outcome = iota // Allow policy
	denied                      // Deny policy: API Gateway answers 403
	unauthorized                // error "Unauthorized": API Gateway answers 401
	unavailable                 // any other error: API Gateway answers 500
)

func TestAuthorizer(t *testing.T) {
	rsaK, ecK := rsaTestKey("rsa-1"), ecTestKey("ec-1")
	srv := newJWKSServer(t, rsaK, ecK)
	down := newJWKSServer(t, rsaK)
	down.failing.Store(true)

	valid := signWith(t, rsaK, nil, with(idClaims(), "name", "Ann"))
	validEC := signWith(t, ecK, nil, idClaims())
	expired := signWith(t, rsaK, nil, with(idClaims(), "exp", epoch.Add(-10*time.Minute).Unix()))
	none := seg(map[string]any{"alg": "none", "kid": "rsa-1"}) + "." + seg(idClaims()) + "."
	foreign := signWith(t, rsaK, nil, with(idClaims(), "aud", "another-app"))
	access := signWith(t, rsaK, nil, with(idClaims(), "token_use", "access"))
	slashed := signWith(t, rsaK, nil, with(idClaims(), "sub", "team/ann"))

	tests := []struct {
		name     string
		edit     func(*ConnectRequest)
		jwks     *jwksServer
		tokenUse string
		want     outcome
		wantName string
		reason   Reason
		tokens   []string // tokens that must not reach the log
	}{
		{name: "query parameter", edit: withQuery(valid), want: allowed, wantName: "Ann"},
		{name: "subprotocol", edit: withProtocol("Sec-WebSocket-Protocol", "wschat.v1", " "+validEC), want: allowed, wantName: "ann"},
		{name: "subprotocol, token first", edit: withProtocol("Sec-WebSocket-Protocol", validEC+" , wschat.v1"), want: allowed, wantName: "ann"},
		{name: "subprotocol, lower-case header name", edit: withProtocol("sec-websocket-protocol", "wschat.v1, "+valid), want: allowed, wantName: "Ann"},
		{name: "subprotocol in headers only", edit: func(r *ConnectRequest) {
			r.MultiValueHeaders = nil
			r.Headers["SEC-WEBSOCKET-PROTOCOL"] = "wschat.v1," + valid
		}, want: allowed, wantName: "Ann"},
		{name: "multi-value query parameter only", edit: func(r *ConnectRequest) {
			r.MultiValueQueryStringParameters = map[string][]string{"token": {valid}}
		}, want: allowed, wantName: "Ann"},
		{name: "query parameter wins over subprotocol", edit: func(r *ConnectRequest) {
			withQuery(valid)(r)
			withProtocol("Sec-WebSocket-Protocol", "wschat.v1, garbage")(r)
		}, want: allowed, wantName: "Ann"},

		{name: "no token", want: unauthorized, reason: ReasonMissing},
		{name: "empty query parameter", edit: withQuery(""), want: unauthorized, reason: ReasonMissing},
		{name: "subprotocol without token", edit: withProtocol("Sec-WebSocket-Protocol", "wschat.v1"), want: unauthorized, reason: ReasonMissing},
		{name: "two candidate tokens", edit: withProtocol("Sec-WebSocket-Protocol", "wschat.v1, "+valid+", "+validEC), want: unauthorized, reason: ReasonMalformed, tokens: []string{valid, validEC}},
		{name: "malformed", edit: withQuery("not-a-jwt"), want: unauthorized, reason: ReasonMalformed},
		{name: "expired, via query", edit: withQuery(expired), want: unauthorized, reason: ReasonExpired, tokens: []string{expired}},
		{name: "expired, via subprotocol", edit: withProtocol("Sec-WebSocket-Protocol", "wschat.v1, "+expired), want: unauthorized, reason: ReasonExpired, tokens: []string{expired}},
		{name: "alg none", edit: withQuery(none), want: unauthorized, reason: ReasonAlgorithm, tokens: []string{none}},
		{name: "oversized", edit: withQuery(strings.Repeat("x", MaxTokenSize+1)), want: unauthorized, reason: ReasonTooLarge},
		{name: "no methodArn", edit: func(r *ConnectRequest) { withQuery(valid)(r); r.MethodArn = "" }, want: unauthorized, reason: ReasonBadRequest},

		{name: "other app's token", edit: withQuery(foreign), want: denied, reason: ReasonAudience, tokens: []string{foreign}},
		{name: "access token where id tokens are required", edit: withQuery(access), tokenUse: "id", want: denied, reason: ReasonTokenUse, tokens: []string{access}},
		{name: "a sub no route could ever address", edit: withQuery(slashed), want: denied, reason: ReasonBadSubject, tokens: []string{slashed}},

		{name: "JWKS down", edit: withQuery(valid), jwks: down, want: unavailable, reason: ReasonKeysUnavailable},
	}

	logs := &testkit.Buffer{}
	var allTokens []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jwks := tt.jwks
			if jwks == nil {
				jwks = srv
			}
			v, _ := newTestVerifier(t, jwks, func(c *Config) { c.TokenUse = tt.tokenUse })
			var lineBuf testkit.Buffer
			logger, err := logging.New(&teeWriter{logs, &lineBuf}, "")
			if err != nil {
				t.Fatal(err)
			}
			a := NewAuthorizer(v, logger)
			req := loadConnect(t, tt.edit)
			if tok, _, err := TokenFromRequest(req); err == nil {
				allTokens = append(allTokens, tok)
			}
			allTokens = append(allTokens, tt.tokens...)

			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
			resp, err := a.Handle(ctx, req)

			switch tt.want {
			case allowed:
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				checkPolicy(t, resp, "Allow")
				if resp.PrincipalID != "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" {
					t.Errorf("PrincipalID = %q", resp.PrincipalID)
				}
				// exp and iat travel as decimal strings: the handlers end
				// the grant at exp (plus grace) and compare iat with a
				// revocation.
				wantCtx := map[string]any{"userId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "userName": tt.wantName,
					"exp": strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10), "iat": strconv.FormatInt(epoch.Add(-time.Minute).Unix(), 10)}
				if len(resp.Context) != len(wantCtx) || resp.Context["userId"] != wantCtx["userId"] || resp.Context["userName"] != wantCtx["userName"] ||
					resp.Context["exp"] != wantCtx["exp"] || resp.Context["iat"] != wantCtx["iat"] {
					t.Errorf("Context = %v, want %v", resp.Context, wantCtx)
				}
			case denied:
				if err != nil {
					t.Fatalf("Handle: %v, want a Deny policy", err)
				}
				checkPolicy(t, resp, "Deny")
				if len(resp.Context) != 0 {
					t.Errorf("Deny carries context %v", resp.Context)
				}
			case unauthorized:
				if err == nil || err.Error() != "Unauthorized" || !errors.Is(err, ErrUnauthorized) {
					t.Fatalf("Handle error = %v, want exactly \"Unauthorized\"", err)
				}
			case unavailable:
				if err == nil || err.Error() == "Unauthorized" {
					t.Fatalf("Handle error = %v, want an error other than Unauthorized (500)", err)
				}
			}

			line := decodeLogLine(t, lineBuf.String())
			if line["connectionId"] != "TWegAe1BDoECFAQ=" || line["apiRequestId"] != "TWegAcC4DoEFXXw=" || line["routeKey"] != "$connect" {
				t.Errorf("log line lacks request ids: %v", line)
			}
			if line["awsRequestId"] != "lambda-req-1" || line["message"] == nil || line["timestamp"] == nil {
				t.Errorf("log line lacks the shared keys awsRequestId, message, timestamp: %v", line)
			}
			if tt.want != allowed && line["reason"] != string(tt.reason) {
				t.Errorf("logged reason = %v, want %q", line["reason"], tt.reason)
			}
		})
	}

	// The whole log of every call above, accepted or not, holds no token.
	out := logs.String()
	if out == "" {
		t.Fatal("no log output captured")
	}
	for _, tok := range allTokens {
		assertNoToken(t, out, tok)
	}
}

type teeWriter struct{ a, b *testkit.Buffer }

func (w *teeWriter) Write(p []byte) (int, error) {
	_, _ = w.a.Write(p)
	return w.b.Write(p)
}

func decodeLogLine(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line per call, got %d: %s", len(lines), out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("log line is not JSON: %v: %s", err, lines[0])
	}
	return m
}

func checkPolicy(t *testing.T, resp events.APIGatewayCustomAuthorizerResponse, effect string) {
	t.Helper()
	p := resp.PolicyDocument
	if p.Version != "2012-10-17" || len(p.Statement) != 1 {
		t.Fatalf("policy = %+v", p)
	}
	s := p.Statement[0]
	if s.Effect != effect || len(s.Action) != 1 || s.Action[0] != "execute-api:Invoke" ||
		len(s.Resource) != 1 || s.Resource[0] != fixtureMethodArn {
		t.Errorf("statement = %+v, want %s execute-api:Invoke on %s", s, effect, fixtureMethodArn)
	}
}

// TestAuthorizerResponseJSON pins the wire format API Gateway (and the local
// emulator) reads.
func TestAuthorizerResponseJSON(t *testing.T) {
	got, err := json.Marshal(allow(fixtureMethodArn, Identity{UserID: "u-1", UserName: "Ann"}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"principalId":"u-1","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":["execute-api:Invoke"],"Effect":"Allow","Resource":["` + fixtureMethodArn + `"]}]},"context":{"userId":"u-1","userName":"Ann"}}`
	if string(got) != want {
		t.Errorf("allow JSON =\n%s\nwant\n%s", got, want)
	}
}

type failingVerifier struct{ err error }

func (f failingVerifier) Verify(context.Context, string) (Identity, error) { return Identity{}, f.err }

func TestAuthorizerUnexpectedVerifierError(t *testing.T) {
	var logs testkit.Buffer
	a := NewAuthorizer(failingVerifier{errors.New("boom: secret-detail")}, slog.New(slog.NewJSONHandler(&logs, nil)))
	_, err := a.Handle(context.Background(), loadConnect(t, withQuery("a.b.c")))
	if err == nil || err.Error() == "Unauthorized" {
		t.Fatalf("Handle error = %v, want a 500-style error", err)
	}
	if strings.Contains(logs.String(), "secret-detail") {
		t.Errorf("unexpected error text was logged: %s", logs.String())
	}
	if line := decodeLogLine(t, logs.String()); line["reason"] != "internal" {
		t.Errorf("reason = %v, want internal", line["reason"])
	}
}
