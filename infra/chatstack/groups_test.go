package chatstack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/auth"
	"github.com/wschat/wschat/internal/contract"
)

// TestGroupChannelsValidation: a bad mapping stops synth with every problem
// named, and -c groupChannels replaces the built-in mapping or, with none,
// empties it.
func TestGroupChannelsValidation(t *testing.T) {
	cfg := Environments()["prod"]
	cfg.GroupChannels = map[string]string{"has space": "*", "staff": "Gen#eral", "": "*"}
	err := cfg.Validate()
	for _, want := range []string{`GroupChannels: "has space" is not a Cognito group name`, `group "staff": "Gen#eral"`, `"" is not a Cognito group name`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to report %q", err, want)
		}
	}
	cfg.GroupChannels = manyGroups(17)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "all groups together exceed") {
		t.Errorf("Validate() of 34 entries in all = %v, want the limit reported", err)
	}

	override := func(v string) (Config, error) {
		return ApplyOverrides(Environments()["staging"], func(k string) string { return map[string]string{"groupChannels": v}[k] })
	}
	got, err := override(`{"staff":"*","members":"general,team-*=r"}`)
	if err != nil || len(got.GroupChannels) != 2 || got.GroupChannels["members"] != "general,team-*=r" || got.Validate() != nil {
		t.Errorf("override = %v, %v; want the two groups only", got.GroupChannels, err)
	}
	if got, err := override("none"); err != nil || len(got.GroupChannels) != 0 {
		t.Errorf("override none = %v, %v; want no groups", got.GroupChannels, err)
	}
	if _, err := override("staff=*"); err == nil || !strings.Contains(err.Error(), "-c groupChannels: want a JSON object") {
		t.Errorf("override staff=* error = %v, want a JSON object asked for", err)
	}
	if got, _ := override(""); got.GroupChannels["wschat-all"] != "*" {
		t.Errorf("no override: %v, want the built-in wschat-all group", got.GroupChannels)
	}
}

func manyGroups(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("g%d", i)] = "a=r b=r"
	}
	return m
}

// TestGroupChannelsMatchRuntime: the stack validates the mapping with its
// own copy of the rules (it may import only internal/contract); the
// authorizer must start on every mapping that synth lets through, and
// synth must stop every mapping the authorizer would refuse.
func TestGroupChannelsMatchRuntime(t *testing.T) {
	for _, m := range []map[string]string{
		{"staff": "*"}, {"members": "general=r, team-*"}, {"muted": ""}, {"eu-west-1_AbC_Google": "lobby"},
		{"Ünïcode-Ω": "*"}, {"a/b+c@d.e": "*"}, {strings.Repeat("g", 128): "*"}, {strings.Repeat("g", 129): "*"},
		{"has space": "*"}, {"tab\there": "*"}, {"": "*"}, {"staff": "Gen"}, {"staff": "a=x"},
		manyGroups(16), manyGroups(17),
	} {
		cfg := Environments()["prod"]
		cfg.GroupChannels = m
		stackErr := cfg.Validate()
		b, _ := json.Marshal(m)
		env := map[string]string{contract.EnvAuthIssuer: "https://issuer.example.com", contract.EnvAuthAudiences: "c", contract.EnvGroupChannels: string(b)}
		ac, runErr := auth.ConfigFromEnv(func(k string) string { return env[k] })
		if runErr == nil {
			_, runErr = auth.NewVerifier(ac)
		}
		if (stackErr == nil) != (runErr == nil) {
			t.Errorf("mapping %s: stack says %v, authorizer says %v", b, stackErr, runErr)
		}
	}
}

// TestGroupChannelsReachAuthorizer: only the authorizer reads the mapping,
// as the JSON of the environment's config; a stack-owned pool has exactly
// the mapped groups, each saying what it grants; an existing issuer's pool
// is the operator's, so the stack defines no group there.
func TestGroupChannelsReachAuthorizer(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			res := template["Resources"].(map[string]any)
			want, _ := json.Marshal(cfg.GroupChannels)
			for fn, id := range functionByPackage(t, template) {
				vars, _ := props(res[id].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
				got, set := vars[contract.EnvGroupChannels]
				// The chat function verifies renewals (reauth) as the
				// authorizer verifies connects: the same mapping.
				verifies := fn == contract.FunctionAuthorizer || fn == contract.FunctionChat
				switch {
				case verifies && got != string(want):
					t.Errorf("%s %s = %v, want %s", fn, contract.EnvGroupChannels, got, want)
				case !verifies && set:
					t.Errorf("%s has %s; only the authorizer and chat read it", fn, contract.EnvGroupChannels)
				}
			}
			groups := map[string]string{}
			pools := resources(t, template, "AWS::Cognito::UserPool")
			for id, g := range resources(t, template, "AWS::Cognito::UserPoolGroup") {
				p := props(g)
				if _, ok := pools[refID(p["UserPoolId"])]; !ok {
					t.Errorf("group %s is in %s, not the stack's pool", id, asJSON(p["UserPoolId"]))
				}
				groups[fmt.Sprint(p["GroupName"])] = fmt.Sprint(p["Description"])
			}
			if cfg.Auth.Issuer != "" {
				if len(groups) != 0 {
					t.Errorf("an existing issuer's stack defines groups %v", groups)
				}
				return
			}
			if len(groups) != len(cfg.GroupChannels) {
				t.Errorf("pool groups %v, want one per mapped group %v", groups, cfg.GroupChannels)
			}
			for name, grant := range cfg.GroupChannels {
				if groups[name] != "wschat channels: "+grant {
					t.Errorf("group %q description = %q, want it to name its grant %q", name, groups[name], grant)
				}
			}
		})
	}
}

// TestNothingInTheStackGrantsChannels is the security property of groups:
// membership changes only through Cognito's Admin* API, which needs IAM
// credentials, so no IAM statement of the stack may allow any cognito-idp
// action (a function that could add users to groups could hand out
// channels), and the app client signs in with SRP only (no admin flows).
// The claim the authorizer trusts is not a user attribute at all, so no
// app client's write attributes can reach it.
func TestNothingInTheStackGrantsChannels(t *testing.T) {
	for _, env := range envNames {
		template := tmpl(t, env)
		for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy"} {
			for id, r := range resources(t, template, typ) {
				if j := asJSON(props(r)); strings.Contains(strings.ToLower(j), "cognito-idp:") {
					t.Errorf("%s: %s %s allows Cognito user pool actions: %s", env, typ, id, j)
				}
			}
		}
		for id, c := range resources(t, template, "AWS::Cognito::UserPoolClient") {
			for _, f := range props(c)["ExplicitAuthFlows"].([]any) {
				if f != "ALLOW_USER_SRP_AUTH" && f != "ALLOW_REFRESH_TOKEN_AUTH" {
					t.Errorf("%s: app client %s allows %v", env, id, f)
				}
			}
		}
	}
}
