package chatstack

import (
	"strconv"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wschatcdk"
)

// TestDefaultChannelsGrammarMatchesRuntime: the stack validates
// DefaultChannels with its own copy of the grammar (it may import only
// internal/contract); this keeps the copy equal to chat.ParseCapabilities.
func TestDefaultChannelsGrammarMatchesRuntime(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, s := range []string{
		"", "*", "general", "general,team-*", "a=r b=wp", "team-*=rwp", long, long + "*", long[1:] + "*",
		"General", "a#b", "a*b", "**", "*a", "-a", "a-", "a_", "a=", "a=x", "a=rwx", "a?", "a=R", "a b=R",
		strings.Repeat("a ", 33), "é",
	} {
		_, err := chat.ParseCapabilities(s)
		props := wschatcdk.ChatProps{DefaultChannels: s}
		if got, want := props.Validate() == nil, err == nil; got != want {
			t.Errorf("ChatProps{DefaultChannels: %q}.Validate() = %v, chat.ParseCapabilities says %v (%v)", s, props.Validate(), want, err)
		}
	}
}

func TestLimitsValidation(t *testing.T) {
	cfg := Environments()["prod"]
	cfg.DefaultChannels = "Gen"
	cfg.MaxConnectionsPerUser = new(-1)
	cfg.UserRatePerSecond = -1
	cfg.FrameBurst = -1
	err := cfg.Validate()
	for _, want := range []string{`DefaultChannels "Gen"`, "MaxConnectionsPerUser -1", "UserRatePerSecond -1,", "FrameRatePerSecond 10, FrameBurst -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to report %q", err, want)
		}
	}
	open, _ := ApplyOverrides(Environments()["prod"], func(k string) string { return map[string]string{"defaultChannels": "general,team-*=r"}[k] })
	if open.DefaultChannels != "general,team-*=r" || open.Validate() != nil {
		t.Errorf("override defaultChannels = %q, %v", open.DefaultChannels, open.Validate())
	}
	closed, _ := ApplyOverrides(Environments()["dev"], func(k string) string { return map[string]string{"defaultChannels": "none"}[k] })
	if closed.DefaultChannels != "" {
		t.Errorf("override defaultChannels=none = %q, want closed", closed.DefaultChannels)
	}
}

// TestLimitsReachHandlers: the runtime functions get the limits; dev is
// open without a claim, the others closed (no variable: the handlers'
// default grants nothing).
func TestLimitsReachHandlers(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			res := template["Resources"].(map[string]any)
			for _, fn := range []string{contract.FunctionChat, contract.FunctionConnect} {
				id := functionByPackage(t, template)[fn]
				vars := props(res[id].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
				for _, k := range []string{contract.EnvMaxConnectionsPerUser, contract.EnvUserRatePerSecond, contract.EnvUserRateBurst,
					contract.EnvFrameRatePerSecond, contract.EnvFrameBurst} {
					if vars[k] == nil {
						t.Errorf("%s lacks %s", fn, k)
					}
				}
				got, set := vars[contract.EnvDefaultChannels]
				switch {
				case strings.HasPrefix(env, "dev") && got != "*":
					t.Errorf("%s: %s = %v, want * (dev is open)", fn, contract.EnvDefaultChannels, got)
				case !strings.HasPrefix(env, "dev") && set:
					t.Errorf("%s: %s = %v, want unset (closed)", fn, contract.EnvDefaultChannels, got)
				}
			}
			if *cfg.MaxConnectionsPerUser != 10 {
				t.Errorf("max connections per user = %d, want 10", *cfg.MaxConnectionsPerUser)
			}
		})
	}
}

// TestAppClientNeedsNoOAuth: the stack-owned app client allows SRP sign-in
// only: no OAuth flow (implicit included), no callback, no scope.
func TestAppClientNeedsNoOAuth(t *testing.T) {
	clients := resources(t, tmpl(t, "dev"), "AWS::Cognito::UserPoolClient")
	if len(clients) != 1 {
		t.Fatalf("got %d app clients, want 1", len(clients))
	}
	for id, c := range clients {
		p := props(c)
		for _, k := range []string{"AllowedOAuthFlows", "AllowedOAuthScopes", "CallbackURLs", "LogoutURLs"} {
			if p[k] != nil {
				t.Errorf("%s has %s = %s, want none", id, k, asJSON(p[k]))
			}
		}
		if v, ok := p["AllowedOAuthFlowsUserPoolClient"]; ok && v != false {
			t.Errorf("%s AllowedOAuthFlowsUserPoolClient = %v, want false", id, v)
		}
		if got := asJSON(p["ExplicitAuthFlows"]); got != `["ALLOW_USER_SRP_AUTH","ALLOW_REFRESH_TOKEN_AUTH"]` {
			t.Errorf("%s ExplicitAuthFlows = %s, want SRP and refresh only", id, got)
		}
	}
}

// TestUsersCannotWriteTheirDisplayName (issue #25, finding 3): without
// WriteAttributes Cognito lets every user change every standard attribute
// with their own access token, "name" included, which the authorizer
// shows as the display name. The app client may write only locale and
// zoneinfo; "name" and everything the display name falls back on are set
// by administrators.
func TestUsersCannotWriteTheirDisplayName(t *testing.T) {
	for id, c := range resources(t, tmpl(t, "dev"), "AWS::Cognito::UserPoolClient") {
		got, ok := props(c)["WriteAttributes"].([]any)
		if !ok {
			t.Fatalf("%s sets no WriteAttributes: Cognito's default lets users write name", id)
		}
		if asJSON(got) != `["locale","zoneinfo"]` {
			t.Errorf("%s WriteAttributes = %s, want only locale and zoneinfo", id, asJSON(got))
		}
	}
}

// TestChannelRateAndReservedNamesReachTheFunctions: the per-channel
// delivery rate reaches the functions that send, and the publish API's
// configured names reach the authorizer as reserved display names.
func TestChannelRateAndReservedNamesReachTheFunctions(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			res := template["Resources"].(map[string]any)
			fns := functionByPackage(t, template)
			for _, fn := range []string{contract.FunctionChat, contract.FunctionPublish} {
				vars := props(res[fns[fn]].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
				if want := strconv.FormatFloat(cfg.ChannelRate, 'f', -1, 64); vars[contract.EnvChannelRate] != want {
					t.Errorf("%s %s = %v, want %s", fn, contract.EnvChannelRate, vars[contract.EnvChannelRate], want)
				}
			}
		})
	}
	for env, want := range map[string]any{"dev": nil, "prod-issuer": `["Billing","Orders"]`} {
		template := tmpl(t, env)
		res := template["Resources"].(map[string]any)
		vars := props(res[functionByPackage(t, template)[contract.FunctionAuthorizer]].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
		if got := vars[contract.EnvReservedNames]; got != want {
			t.Errorf("%s: authorizer %s = %v, want %v (the publish names)", env, contract.EnvReservedNames, got, want)
		}
	}
	bad := Environments()["prod"]
	bad.ChannelRate = 20000
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "ChannelRate 20000") {
		t.Errorf("Validate() = %v, want the channel rate refused", err)
	}
}

// TestTopicKeyPolicyGuardsTheDeputy: every statement of the alarm topic
// key's policy for a service principal carries aws:SourceAccount and
// aws:SourceArn.
func TestTopicKeyPolicyGuardsTheDeputy(t *testing.T) {
	for _, env := range envNames {
		keys := resources(t, tmpl(t, env), "AWS::KMS::Key")
		services := 0
		for id, k := range keys {
			for _, st := range props(k)["KeyPolicy"].(map[string]any)["Statement"].([]any) {
				s := st.(map[string]any)
				principal, _ := s["Principal"].(map[string]any)
				if principal == nil || principal["Service"] == nil {
					continue
				}
				services++
				cond := asJSON(s["Condition"])
				if !strings.Contains(cond, `"StringEquals":{"aws:SourceAccount":`) || !strings.Contains(cond, `"ArnLike":{"aws:SourceArn":`) ||
					!strings.Contains(cond, `:alarm:*`) {
					t.Errorf("%s: key %s statement for %v has condition %s, want aws:SourceAccount and aws:SourceArn", env, id, principal["Service"], cond)
				}
			}
		}
		if services == 0 {
			t.Errorf("%s: no key statement for a service principal: the check checked nothing", env)
		}
	}
}

// TestQuietRoutesThrottled: ping and $default have route settings of their
// own, and the stage waits for the routes they name.
func TestQuietRoutesThrottled(t *testing.T) {
	for _, env := range envNames {
		template := tmpl(t, env)
		cfg := synthesized[env].stack.Config
		for id, st := range resources(t, template, "AWS::ApiGatewayV2::Stage") {
			if !strings.Contains(asJSON(props(st)["ApiId"]), "WebSocketApi") {
				continue // the publish API's stage throttles by its own settings
			}
			rs, _ := props(st)["RouteSettings"].(map[string]any)
			for _, key := range []string{"ping", "$default"} {
				got := asJSON(rs[key])
				want := asJSON(map[string]any{"ThrottlingBurstLimit": cfg.QuietRouteBurst, "ThrottlingRateLimit": cfg.QuietRouteRate})
				if got != want {
					t.Errorf("%s: stage %s RouteSettings[%s] = %s, want %s", env, id, key, got, want)
				}
			}
			if len(rs) != 2 {
				t.Errorf("%s: RouteSettings %s, want ping and $default only", env, asJSON(rs))
			}
			if deps := asJSON(st["DependsOn"]); !strings.Contains(deps, "pingRoute") || !strings.Contains(deps, "defaultRoute") {
				t.Errorf("%s: stage DependsOn %s, want the routes", env, deps)
			}
		}
	}
}

// TestChatMayCloseConnections: the chat function (closing abusers and
// expired connections), the publish function (disconnecting a user), the
// expiry function (closing idle expired connections) and the connect
// function (closing the silent connection a reconnecting client replaces),
// and only they, may
// DELETE connections; the IAM least-privilege test checks the rest of their
// grants.
func TestChatMayCloseConnections(t *testing.T) {
	template := tmpl(t, "dev")
	for fn, stmts := range statements(t, template) {
		has := strings.Contains(asJSON(stmts), "/DELETE/@connections/*")
		if has != (fn == contract.FunctionChat || fn == contract.FunctionPublish || fn == contract.FunctionExpiry ||
			fn == contract.FunctionConnect) {
			t.Errorf("%s may DELETE connections: %v", fn, has)
		}
	}
}
