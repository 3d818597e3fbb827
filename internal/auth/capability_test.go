package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
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
		{"names and patterns", "general, team-*=r", allowed, "v1:general=rwpd team-*=r"},
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

// testGroups is a group mapping as an operator would configure it.
var testGroups = map[string]string{"staff": "*", "members": "general=r, team-*", "muted": "", "eu-west-1_X_Google": "lobby=r"}

// TestAuthorizerGroupChannels: a token without a channels claim gets the
// grants of its mapped groups, added up, from ID and access tokens alike
// (cognito:groups is in both); the claim, when present, decides alone; a
// token with no mapped group carries no channels key (the environment's
// default applies); a groups claim of the wrong shape is denied (403,
// bad_capabilities), never read as "no groups" or "everything".
func TestAuthorizerGroupChannels(t *testing.T) {
	k := ecTestKey("ec-1")
	srv := newJWKSServer(t, k)
	access := with(idClaims(), "aud", nil, "client_id", testClientID, "token_use", "access")
	tests := []struct {
		name    string
		claims  map[string]any
		groups  map[string]string // the mapping; nil: none configured
		want    outcome
		wantCtx any // the context's "channels" value; nil: absent
		wantLog string
	}{
		{"one group", with(idClaims(), GroupsClaim, []string{"members"}), testGroups, allowed, "v1:general=r team-*=rwpd", "groups"},
		{"groups add up in name order", with(idClaims(), GroupsClaim, []string{"staff", "members", "staff"}), testGroups, allowed, "v1:general=r team-*=rwpd *=rwpd", "groups"},
		{"access token", with(access, GroupsClaim, []string{"members"}), testGroups, allowed, "v1:general=r team-*=rwpd", "groups"},
		{"federated group name", with(idClaims(), GroupsClaim, []string{"eu-west-1_X_Google"}), testGroups, allowed, "v1:lobby=r", "groups"},
		{"group mapped to nothing", with(idClaims(), GroupsClaim, []string{"muted"}), testGroups, allowed, "v1:", "groups"},
		{"unmapped group: default", with(idClaims(), GroupsClaim, []string{"other"}), testGroups, allowed, nil, "none"},
		{"no groups claim: default", idClaims(), testGroups, allowed, nil, "none"},
		{"null groups claim: default", with(idClaims(), GroupsClaim, json.RawMessage("null")), testGroups, allowed, nil, "none"},
		{"claim decides alone", with(idClaims(), GroupsClaim, []string{"staff"}, ChannelsClaim, "general=r"), testGroups, allowed, "v1:general=r", "claim"},
		{"no mapping: groups ignored", with(idClaims(), GroupsClaim, "staff"), nil, allowed, nil, "none"},
		{"groups claim a string", with(idClaims(), GroupsClaim, "staff"), testGroups, denied, nil, "bad_capabilities"},
		{"groups claim of numbers", with(idClaims(), GroupsClaim, []int{1}), testGroups, denied, nil, "bad_capabilities"},
		{"groups claim an object", with(idClaims(), GroupsClaim, map[string]string{"staff": "*"}), testGroups, denied, nil, "bad_capabilities"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signWith(t, k, nil, tt.claims)
			v, _ := newTestVerifier(t, srv, func(c *Config) { c.GroupChannels = tt.groups })
			var logs strings.Builder
			a := NewAuthorizer(v, slog.New(slog.NewJSONHandler(&logs, nil)))
			resp, err := a.Handle(context.Background(), loadConnect(t, withQuery(tok)))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got, ok := resp.Context["channels"]
			switch tt.want {
			case allowed:
				checkPolicy(t, resp, "Allow")
				if (tt.wantCtx == nil && ok) || (tt.wantCtx != nil && got != tt.wantCtx) {
					t.Errorf("context channels = %v (present %v), want %v", got, ok, tt.wantCtx)
				}
				if want := `"channelsFrom":"` + tt.wantLog + `"`; !strings.Contains(logs.String(), want) {
					t.Errorf("log %s lacks %s", logs.String(), want)
				}
			case denied:
				checkPolicy(t, resp, "Deny")
				if ok {
					t.Errorf("a denied token has context channels %v", got)
				}
				if want := `"reason":"` + tt.wantLog + `"`; !strings.Contains(logs.String(), want) {
					t.Errorf("log %s lacks %s", logs.String(), want)
				}
			}
		})
	}
}

// TestGroupChannelsConfig: the mapping is checked when the verifier is
// made, so a bad one stops the authorizer from starting: group names as
// Cognito allows them, capabilities that parse, and all of them together
// within the capability limits (any set of groups a token names must fit).
func TestGroupChannelsConfig(t *testing.T) {
	many := map[string]string{}
	for i := range 17 {
		many[fmt.Sprintf("g%d", i)] = "a=r b=r"
	}
	tests := []struct {
		name    string
		env     string
		wantErr string // "" means it starts
	}{
		{"unset", "", ""},
		{"mapping", `{"staff":"*","members":"general=r, team-*"}`, ""},
		{"empty grant", `{"muted":""}`, ""},
		{"not JSON", `staff=*`, "want a JSON object"},
		{"not strings", `{"staff":["*"]}`, "want a JSON object"},
		{"bad capability", `{"staff":"Gen#eral"}`, `group "staff"`},
		{"bad group name", `{"has space":"*"}`, "not a Cognito group name"},
		{"empty group name", `{"":"*"}`, "not a Cognito group name"},
		{"over the limits together", asJSONString(many), "all groups together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"WSCHAT_AUTH_ISSUER": testIssuer, "WSCHAT_AUTH_AUDIENCES": "c", "WSCHAT_GROUP_CHANNELS": tt.env}
			cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
			if err == nil {
				_, err = NewVerifier(cfg)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("config: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("config error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func asJSONString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
