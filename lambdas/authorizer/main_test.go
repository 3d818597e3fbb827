package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/auth"
	"github.com/wschat/wschat/internal/compose/composetest"
)

func TestNewAuthorizer(t *testing.T) {
	base := map[string]string{
		"WSCHAT_AUTH_ISSUER":    "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool",
		"WSCHAT_AUTH_AUDIENCES": "client-a,client-b",
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" means it starts
	}{
		{"cognito", base, ""},
		{"with token use and log level", merge(base, "WSCHAT_AUTH_TOKEN_USE", "access", "WSCHAT_LOG_LEVEL", "debug"), ""},
		{"no issuer fails closed", merge(base, "WSCHAT_AUTH_ISSUER", ""), "WSCHAT_AUTH_ISSUER is not set"},
		{"no audiences", merge(base, "WSCHAT_AUTH_AUDIENCES", " , "), "WSCHAT_AUTH_AUDIENCES is not set"},
		{"plain http issuer", merge(base, "WSCHAT_AUTH_ISSUER", "http://issuer.example.com"), "use https"},
		{"group channels", merge(base, "WSCHAT_GROUP_CHANNELS", `{"staff":"*"}`), ""},
		{"group channels not JSON fails closed", merge(base, "WSCHAT_GROUP_CHANNELS", "staff=*"), "WSCHAT_GROUP_CHANNELS"},
		{"bad group capability fails closed", merge(base, "WSCHAT_GROUP_CHANNELS", `{"staff":"a#b"}`), "WSCHAT_GROUP_CHANNELS"},
		{"bad log level", merge(base, "WSCHAT_LOG_LEVEL", "loud"), "WSCHAT_LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			a, err := newAuthorizer(func(k string) string { return tt.env[k] }, &stdout)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("newAuthorizer error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("newAuthorizer: %v", err)
			}
			// Wired end to end: a request without a token is refused with
			// a JSON log line on stdout, and no network call is made.
			ctx := composetest.Context(t, "lambda-req-0")
			_, err = a.Handle(ctx, auth.ConnectRequest{
				MethodArn:      "arn:aws:execute-api:eu-west-1:1:api/dev/$connect",
				RequestContext: events.APIGatewayWebsocketProxyRequestContext{ConnectionID: "conn-1", RouteKey: "$connect", RequestID: "api-req-0"},
			})
			if err == nil || err.Error() != "Unauthorized" {
				t.Errorf("Handle without token = %v, want Unauthorized", err)
			}
			if !strings.Contains(stdout.String(), `"reason":"token_missing"`) {
				t.Errorf("stdout = %q, want a JSON log line with the reason", stdout.String())
			}
			// The same keys as the other three functions' lines.
			composetest.CheckLogLines(t, stdout.Bytes(), "lambda-req-0", "reason", "connectionId", "routeKey", "apiRequestId")
		})
	}
}

func merge(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
