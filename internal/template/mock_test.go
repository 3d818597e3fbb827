package template

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// addPing adds a ping route served by a MOCK integration, as the stack
// deploys it, to the minimal template's resources.
func addPing(r map[string]any) {
	api := map[string]any{"Ref": "Api"}
	r["PingIntegration"] = map[string]any{"Type": "AWS::ApiGatewayV2::Integration", "Properties": map[string]any{
		"ApiId": api, "IntegrationType": "MOCK", "IntegrationUri": "",
		"RequestTemplates":            map[string]any{"$default": `{"statusCode": 200}`},
		"TemplateSelectionExpression": `\$default`,
	}}
	r["PingRoute"] = map[string]any{"Type": "AWS::ApiGatewayV2::Route", "Properties": map[string]any{
		"ApiId": api, "RouteKey": "ping", "RouteResponseSelectionExpression": "$default",
		"Target": map[string]any{"Fn::Join": []any{"", []any{"integrations/", map[string]any{"Ref": "PingIntegration"}}}},
	}}
	r["PingRouteResponse"] = map[string]any{"Type": "AWS::ApiGatewayV2::RouteResponse", "Properties": map[string]any{
		"ApiId": api, "RouteId": map[string]any{"Ref": "PingRoute"}, "RouteResponseKey": "$default",
	}}
	r["Pong"] = map[string]any{"Type": "AWS::ApiGatewayV2::IntegrationResponse", "Properties": map[string]any{
		"ApiId": api, "IntegrationId": map[string]any{"Ref": "PingIntegration"}, "IntegrationResponseKey": "$default",
		"TemplateSelectionExpression": `\$default`,
		"ResponseTemplates":           map[string]any{"$default": `{"type":"pong","connectionId":"$context.connectionId"}`},
	}}
}

func parseEdited(t *testing.T, edit func(res map[string]any)) (*Stack, error) {
	t.Helper()
	data, err := os.ReadFile("testdata/minimal.template.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc["Resources"].(map[string]any))
	data, _ = json.Marshal(doc)
	return Parse(data, "testdata", opts)
}

func TestParseMockRoute(t *testing.T) {
	s, err := parseEdited(t, addPing)
	if err != nil {
		t.Fatal(err)
	}
	var ping *Route
	for _, r := range s.Routes {
		if r.Key == "ping" {
			ping = r
		}
	}
	if ping == nil || ping.Mock == nil || ping.Function != nil || !ping.TwoWay {
		t.Fatalf("ping route = %+v, want a two-way MOCK route without a function", ping)
	}
	m := ping.Mock
	if m.RequestKey != "$default" || m.RequestTemplates["$default"] != `{"statusCode": 200}` {
		t.Errorf("request side = %q %v", m.RequestKey, m.RequestTemplates)
	}
	if len(m.Responses) != 1 || m.Responses[0].Key != "$default" || m.Responses[0].TemplateKey != "$default" ||
		m.Responses[0].Templates["$default"] != `{"type":"pong","connectionId":"$context.connectionId"}` {
		t.Errorf("responses = %+v", m.Responses)
	}
}

// TestMockErrors: what the emulator would serve differently from API
// Gateway stops the start, naming the resource and property.
func TestMockErrors(t *testing.T) {
	for _, tc := range []struct {
		name, resource, property string
		edit                     func(r map[string]any)
	}{
		{"directive in a template", "Pong", "ResponseTemplates.$default", func(r map[string]any) {
			props(r, "Pong")["ResponseTemplates"] = map[string]any{"$default": `#set($x = 1)$x`}
		}},
		{"variable selection", "PingIntegration", "TemplateSelectionExpression", func(r map[string]any) {
			props(r, "PingIntegration")["TemplateSelectionExpression"] = `${request.body.action}`
		}},
		{"response parameters", "Pong", "ResponseParameters", func(r map[string]any) {
			props(r, "Pong")["ResponseParameters"] = map[string]any{"x": "y"}
		}},
		{"passthrough never", "PingIntegration", "PassthroughBehavior", func(r map[string]any) {
			props(r, "PingIntegration")["PassthroughBehavior"] = "NEVER"
		}},
		{"bad response key", "Pong", "IntegrationResponseKey", func(r map[string]any) {
			props(r, "Pong")["IntegrationResponseKey"] = "200"
		}},
	} {
		_, err := parseEdited(t, func(r map[string]any) { addPing(r); tc.edit(r) })
		var te *Error
		if !errors.As(err, &te) || te.Resource != tc.resource || te.Property != tc.property {
			t.Errorf("%s: err = %v, want an error naming %s / %s", tc.name, err, tc.resource, tc.property)
		}
	}
}
