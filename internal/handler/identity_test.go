package handler_test

import (
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/handler"
)

func TestIdentityFromAuthorizer(t *testing.T) {
	tests := []struct {
		name       string
		authorizer any
		want       chat.Identity
		wantErr    bool
	}{
		{"context", map[string]any{"principalId": "p", "userId": "u1", "userName": "Ann"}, chat.Identity{UserID: "u1", UserName: "Ann"}, false},
		{"string map", map[string]string{"userId": "u1", "userName": "Ann"}, chat.Identity{UserID: "u1", UserName: "Ann"}, false},
		{"principal only", map[string]any{"principalId": "p1"}, chat.Identity{UserID: "p1", UserName: "p1"}, false},
		{"no name", map[string]any{"userId": "u1"}, chat.Identity{UserID: "u1", UserName: "u1"}, false},
		{"control characters dropped from the name, line breaks made spaces", map[string]any{"userId": "u1", "userName": "A\x00n\nn\u0085"}, chat.Identity{UserID: "u1", UserName: "An n"}, false},
		{"bidi override and zero-width space dropped", map[string]any{"userId": "u1", "userName": "\u202eAnn\u200b"}, chat.Identity{UserID: "u1", UserName: "Ann"}, false},
		{"a name of controls only falls back to the id", map[string]any{"userId": "u1", "userName": "\x00\x1b"}, chat.Identity{UserID: "u1", UserName: "u1"}, false},
		{"missing", nil, chat.Identity{UserID: "anon-c9", UserName: "anonymous"}, false},
		{"empty map", map[string]any{}, chat.Identity{UserID: "anon-c9", UserName: "anonymous"}, false},
		{"unexpected type", "user-1", chat.Identity{UserID: "anon-c9", UserName: "anonymous"}, false},
		{"unexpected slice", []any{"u1"}, chat.Identity{UserID: "anon-c9", UserName: "anonymous"}, false},
		{"userId not a string", map[string]any{"userId": 42.0, "userName": "Ann"}, chat.Identity{UserID: "anon-c9", UserName: "Ann"}, false},
		{"long name cut", map[string]any{"userId": "u1", "userName": strings.Repeat("é", 100)}, chat.Identity{UserID: "u1", UserName: strings.Repeat("é", 64)}, false},
		{"user id too long", map[string]any{"userId": strings.Repeat("u", 129)}, chat.Identity{}, true},
		{"user id with a slash", map[string]any{"userId": "team/ann"}, chat.Identity{}, true},
		{"user id of the backend", map[string]any{"userId": "server"}, chat.Identity{}, true},
	}
	for _, tt := range tests {
		got, err := handler.IdentityFromAuthorizer(tt.authorizer, "c9")
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: IdentityFromAuthorizer = %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestConnectRefusesAnUnusableIdentity(t *testing.T) {
	e := newEnv(t, testConfig())
	req := fixture(t, "connect")
	req.RequestContext.Authorizer = map[string]any{"userId": strings.Repeat("u", 300)}
	resp, err := e.connect.Handle(t.Context(), req)
	if err != nil || resp.StatusCode != 403 || !strings.Contains(resp.Body, `"code":"forbidden"`) || !strings.Contains(resp.Body, "more than 128") {
		t.Errorf("connect = %d %s, %v; want 403 with an error frame saying why", resp.StatusCode, resp.Body, err)
	}
}
