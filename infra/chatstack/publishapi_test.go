package chatstack

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/contract"
)

// apisOf returns the APIs of one protocol (WEBSOCKET or HTTP).
func apisOf(t *testing.T, template map[string]any, protocol string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, api := range resources(t, template, "AWS::ApiGatewayV2::Api") {
		if props(api)["ProtocolType"] == protocol {
			out[id] = api
		}
	}
	return out
}

func onlyID(t *testing.T, m map[string]map[string]any, what string) string {
	t.Helper()
	if len(m) != 1 {
		t.Fatalf("got %d %s, want 1", len(m), what)
	}
	for id := range m {
		return id
	}
	return ""
}

func webSocketAPIID(t *testing.T, template map[string]any) string {
	return onlyID(t, apisOf(t, template, "WEBSOCKET"), "WebSocket APIs")
}

func httpAPIID(t *testing.T, template map[string]any) string {
	return onlyID(t, apisOf(t, template, "HTTP"), "HTTP APIs")
}

// ofAPI returns the resources of one type whose ApiId refers to apiID.
func ofAPI(t *testing.T, template map[string]any, typ, apiID string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range resources(t, template, typ) {
		if refID(props(r)["ApiId"]) == apiID {
			out[id] = r
		}
	}
	return out
}

func TestPublishRoutesAreAllIAMAndServedByThePublishFunction(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			api := httpAPIID(t, template)
			fn := functionByPackage(t, template)[contract.FunctionPublish]
			if fn == "" {
				t.Fatal("no publish function")
			}
			integrations := ofAPI(t, template, "AWS::ApiGatewayV2::Integration", api)
			for id, in := range integrations {
				p := props(in)
				if p["IntegrationType"] != "AWS_PROXY" || p["PayloadFormatVersion"] != "2.0" || refID(p["IntegrationUri"]) != fn {
					t.Errorf("integration %s = %s, want AWS_PROXY 2.0 to %s", id, asJSON(p), fn)
				}
			}
			var keys []string
			for id, route := range ofAPI(t, template, "AWS::ApiGatewayV2::Route", api) {
				p := props(route)
				keys = append(keys, p["RouteKey"].(string))
				if p["AuthorizationType"] != "AWS_IAM" {
					t.Errorf("route %v (%s): authorization %v, want AWS_IAM", p["RouteKey"], id, p["AuthorizationType"])
				}
				parts := p["Target"].(map[string]any)["Fn::Join"].([]any)[1].([]any)
				if _, ok := integrations[refID(parts[1])]; parts[0] != "integrations/" || !ok {
					t.Errorf("route %v targets %s, want the publish integration", p["RouteKey"], asJSON(p["Target"]))
				}
			}
			all := append(slices.Clone(contract.PublishRoutes), contract.AccessRoutes...)
			if !slices.Equal(sorted(keys), sorted(all)) {
				t.Errorf("HTTP routes %v, want exactly %v", sorted(keys), sorted(all))
			}
		})
	}
}

func TestPublishStageThrottlingAndAccessLogs(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			stage := props(ofAPI(t, template, "AWS::ApiGatewayV2::Stage", httpAPIID(t, template))[onlyID(t,
				ofAPI(t, template, "AWS::ApiGatewayV2::Stage", httpAPIID(t, template)), "HTTP API stages")])
			if stage["StageName"] != cfg.StageName || stage["AutoDeploy"] != true {
				t.Errorf("stage %v autoDeploy %v, want %s auto-deployed", stage["StageName"], stage["AutoDeploy"], cfg.StageName)
			}
			want := fmt.Sprintf(`{"ThrottlingBurstLimit":%d,"ThrottlingRateLimit":%v}`, cfg.PublishThrottleBurst, cfg.PublishThrottleRate)
			if got := asJSON(stage["DefaultRouteSettings"]); got != want {
				t.Errorf("throttling %s, want %s", got, want)
			}
			als, _ := stage["AccessLogSettings"].(map[string]any)
			var format map[string]string
			if err := json.Unmarshal([]byte(fmt.Sprint(als["Format"])), &format); err != nil {
				t.Fatalf("access log format is not JSON: %v", err)
			}
			for _, k := range []string{"requestId", "routeKey", "status", "caller"} {
				if format[k] == "" {
					t.Errorf("access log format lacks %s", k)
				}
			}
			if lg := refID(als["DestinationArn"]); !strings.Contains(lg, "PublishAccessLogs") {
				t.Errorf("access logs go to %s, want the publish API's own log group", asJSON(als["DestinationArn"]))
			}
			url := asJSON(template["Outputs"].(map[string]any)["PublishURL"])
			if !strings.Contains(url, "https://") || !strings.Contains(url, `"Ref":"`+httpAPIID(t, template)+`"`) {
				t.Errorf("PublishURL %s, want the HTTP API's https URL", url)
			}
		})
	}
}

func TestPublishConfigValidation(t *testing.T) {
	base, err := Lookup("dev")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"a role name", func(c *Config) { c.PublishNames = map[string]string{"arn:aws:iam::111122223333:role/Orders": "Orders"} }, ""},
		{"negative rate", func(c *Config) { c.PublishThrottleRate = -1 }, "PublishThrottleRate -1"},
		{"burst over the account limit", func(c *Config) { c.PublishThrottleBurst = 5001 }, "PublishThrottleBurst 5001"},
		{"not an ARN", func(c *Config) { c.PublishNames = map[string]string{"Orders": "Orders"} }, "want an IAM role or user ARN"},
		{"a session ARN", func(c *Config) {
			c.PublishNames = map[string]string{"arn:aws:sts::111122223333:assumed-role/Orders/s": "Orders"}
		}, "want an IAM role or user ARN"},
		{"empty name", func(c *Config) { c.PublishNames = map[string]string{"arn:aws:iam::111122223333:user/ci": ""} }, "must be 1-64 bytes"},
	}
	for _, tt := range tests {
		c := base
		c.HistoryRetention = 24 * time.Hour
		tt.change(&c)
		err := c.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}
