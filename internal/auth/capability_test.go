package auth

import (
	"context"
	"log/slog"
	"testing"
)

// TestAuthorizerChannels: the wschat:channels claim reaches the context in
// canonical form; a token without it carries no channels key (the handlers
// then apply the environment's default); a malformed one is denied, never
// read as "everything".
func TestAuthorizerChannels(t *testing.T) {
	k := ecTestKey("ec-1")
	srv := newJWKSServer(t, k)
	tests := []struct {
		name    string
		claim   any // nil: no claim
		want    outcome
		wantCtx any // the context's "channels" value; nil: absent
	}{
		{"no claim", nil, allowed, nil},
		{"names and patterns", "general, team-*=r", allowed, "v1:general=rwp team-*=r"},
		{"empty list grants nothing", "", allowed, "v1:"},
		{"bad pattern", "gen#eral", denied, nil},
		{"bad rights", "general=x", denied, nil},
		{"not a string", []string{"general"}, unauthorized, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := idClaims()
			if tt.claim != nil {
				claims = with(claims, ChannelsClaim, tt.claim)
			}
			tok := signWith(t, k, nil, claims)
			v, _ := newTestVerifier(t, srv)
			a := NewAuthorizer(v, slog.New(slog.DiscardHandler))
			resp, err := a.Handle(context.Background(), loadConnect(t, withQuery(tok)))
			switch tt.want {
			case allowed:
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				checkPolicy(t, resp, "Allow")
				got, ok := resp.Context["channels"]
				if (tt.wantCtx == nil && ok) || (tt.wantCtx != nil && got != tt.wantCtx) {
					t.Errorf("context channels = %v (present %v), want %v", got, ok, tt.wantCtx)
				}
			case denied:
				if err != nil {
					t.Fatalf("Handle: %v, want a Deny policy", err)
				}
				checkPolicy(t, resp, "Deny")
			case unauthorized:
				if err == nil || err.Error() != "Unauthorized" {
					t.Fatalf("Handle error = %v, want Unauthorized", err)
				}
			}
		})
	}
}
