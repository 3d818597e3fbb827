package gateway

import (
	"encoding/json"
	"testing"
)

func TestParseExpression(t *testing.T) {
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{"$request.body.action", true},
		{"${request.body.action}", true},
		{"$request.body.a.b", true},
		{"$request.body.", false},
		{"$request.body.a..b", false},
		{"$request.header.action", false},
		{"action", false},
		{"", false},
	} {
		_, err := ParseExpression(tc.expr)
		if (err == nil) != tc.ok {
			t.Errorf("ParseExpression(%q) err = %v, want ok=%v", tc.expr, err, tc.ok)
		}
	}
}

func TestEvaluate(t *testing.T) {
	action, _ := ParseExpression("$request.body.action")
	nested, _ := ParseExpression("$request.body.meta.kind")
	for _, tc := range []struct {
		name   string
		expr   Expression
		body   string
		want   string
		wantOK bool
	}{
		{"string", action, `{"action":"send","x":1}`, "send", true},
		{"whitespace", action, " \r\n{ \"action\" : \"join\" }\n", "join", true},
		{"escaped", action, `{"action":"s\u0065nd"}`, "send", true},
		{"empty string", action, `{"action":""}`, "", true},
		{"missing", action, `{"type":"send"}`, "", false},
		{"number", action, `{"action":1}`, "", false},
		{"null", action, `{"action":null}`, "", false},
		{"object", action, `{"action":{"a":1}}`, "", false},
		{"not json", action, `hello`, "", false},
		{"array", action, `["action"]`, "", false},
		{"truncated", action, `{"action":"send"`, "", false},
		{"empty", action, ``, "", false},
		{"nested", nested, `{"meta":{"kind":"ping"}}`, "ping", true},
		{"nested missing", nested, `{"meta":{}}`, "", false},
		{"nested not object", nested, `{"meta":"kind"}`, "", false},
		{"dotted key is not a path", nested, `{"meta.kind":"ping"}`, "", false},
	} {
		got, ok := tc.expr.Evaluate([]byte(tc.body))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: Evaluate(%q) = %q, %v; want %q, %v", tc.name, tc.body, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestSelectRoute(t *testing.T) {
	expr, _ := ParseExpression("$request.body.action")
	withDefault := map[string]*Route{RouteConnect: {}, RouteDefault: {}, "send": {}}
	noDefault := map[string]*Route{"send": {}}
	for _, tc := range []struct {
		name   string
		routes map[string]*Route
		body   string
		text   bool
		want   string
	}{
		{"match", withDefault, `{"action":"send"}`, true, "send"},
		{"unknown action", withDefault, `{"action":"nope"}`, true, RouteDefault},
		{"not json", withDefault, `nope`, true, RouteDefault},
		{"special keys are not selectable", withDefault, `{"action":"$connect"}`, true, RouteDefault},
		{"binary frames go to $default", withDefault, `{"action":"send"}`, false, RouteDefault},
		{"no $default", noDefault, `{"action":"nope"}`, true, ""},
		{"match without $default", noDefault, `{"action":"send"}`, true, "send"},
	} {
		if got := selectRoute(expr, tc.routes, []byte(tc.body), tc.text); got != tc.want {
			t.Errorf("%s: selectRoute(%q) = %q, want %q", tc.name, tc.body, got, tc.want)
		}
	}
}

// FuzzEvaluate checks the evaluator against a reference: decode the whole body
// with encoding/json and walk the path.
func FuzzEvaluate(f *testing.F) {
	for _, seed := range []string{
		`{"action":"send"}`, `{"action":1}`, `{"meta":{"kind":"x"}}`, `{"action":"\u00e9"}`,
		`not json`, ``, `{"action":"a","action":"b"}`, `{"action":"send"} trailing`, `[1,2]`,
		`{"meta":{"kind":{"deep":"y"}}}`, `{"action":"\ud800"}`, "{\"action\":\"a\x00\"}",
	} {
		f.Add(seed, "action")
		f.Add(seed, "meta.kind")
	}
	f.Fuzz(func(t *testing.T, body, path string) {
		expr, err := ParseExpression("$request.body." + path)
		if err != nil {
			return
		}
		got, ok := expr.Evaluate([]byte(body))
		want, wantOK := reference(expr.path, []byte(body))
		if ok != wantOK || got != want {
			t.Fatalf("Evaluate(%q) on %q = %q, %v; reference %q, %v", path, body, got, ok, want, wantOK)
		}
	})
}

func reference(path []string, body []byte) (string, bool) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "", false
	}
	for _, key := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = obj[key]; !ok {
			return "", false
		}
	}
	s, ok := v.(string)
	return s, ok
}
