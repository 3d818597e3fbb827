package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goPackageKey is the metadata key the testdata uses; the emulator passes
// contract.MetadataGoPackage, which this package may not import.
const goPackageKey = "wschat:goPackage"

var opts = Options{Region: "eu-west-1", AccountID: "000000000000", Endpoint: "127.0.0.1:4567", GoPackageKey: goPackageKey}

func load(t *testing.T) *Stack {
	t.Helper()
	s, err := Load("testdata/minimal.template.json", opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func function(t *testing.T, s *Stack, id string) *Function {
	t.Helper()
	for _, f := range s.Functions {
		if f.LogicalID == id {
			return f
		}
	}
	t.Fatalf("no function %s", id)
	return nil
}

func TestParseMinimal(t *testing.T) {
	s := load(t)
	if s.API.LogicalID != "Api" || s.API.RouteSelectionExpression != "$request.body.action" || len(s.API.ID) != 10 {
		t.Errorf("API = %+v", s.API)
	}
	if s.Stage != "dev" {
		t.Errorf("stage = %q", s.Stage)
	}

	chat := function(t, s, "ChatFunction")
	wantEnv := map[string]string{
		"WSCHAT_TABLE_NAME":   "Table",
		"TABLE_ARN":           "arn:aws:dynamodb:eu-west-1:000000000000:table/Table",
		"WSCHAT_CALLBACK_URL": "http://127.0.0.1:4567/dev",
		"SUB_URL":             "http://127.0.0.1:4567/dev",
		"ENDPOINT":            "ws://127.0.0.1:4567",
		"LITERAL":             "24h0m0s",
		"SELECTED":            "b",
		"SUB_VARS":            "global-table-${Literal}-000000000000",
		"OTHER_FN":            "my-authorizer",
	}
	for k, want := range wantEnv {
		if got := chat.Env[k]; got != want {
			t.Errorf("ChatFunction env %s = %q, want %q", k, got, want)
		}
	}
	if len(chat.Env) != len(wantEnv) || len(chat.EnvErrors) != 0 {
		t.Errorf("ChatFunction env = %v, errors %v", chat.Env, chat.EnvErrors)
	}
	if chat.Timeout != 10*time.Second || chat.MemoryMB != 256 || chat.ReservedConcurrency != 3 {
		t.Errorf("ChatFunction = %+v", chat)
	}
	if chat.GoPackage != "./lambdas/chat" || chat.Label != "chat" || chat.Name != "ChatFunction" {
		t.Errorf("ChatFunction package %q label %q name %q", chat.GoPackage, chat.Label, chat.Name)
	}
	if abs, _ := filepath.Abs("testdata/asset.abc123"); chat.AssetDir != abs {
		t.Errorf("asset dir %q, want %q", chat.AssetDir, abs)
	}

	auth := function(t, s, "AuthorizerFunction")
	if auth.Name != "my-authorizer" || auth.Timeout != 3*time.Second || auth.MemoryMB != 128 || auth.ARN != "arn:aws:lambda:eu-west-1:000000000000:function:my-authorizer" {
		t.Errorf("AuthorizerFunction = %+v", auth)
	}
	// The Cognito references have no local value; the emulator overrides them.
	for _, k := range []string{"WSCHAT_AUTH_ISSUER", "WSCHAT_AUTH_AUDIENCES"} {
		err := auth.EnvErrors[k]
		if err == nil || !strings.Contains(err.Error(), "AuthorizerFunction") || !strings.Contains(err.Error(), "Environment.Variables."+k) {
			t.Errorf("env error for %s = %v, want one naming the resource and property", k, err)
		}
	}

	var keys []string
	for _, r := range s.Routes {
		keys = append(keys, r.Key)
		if r.Function != chat {
			t.Errorf("route %s integrates %v, want ChatFunction", r.Key, r.Function)
		}
		if (r.Key == "$connect") != (r.Authorizer != nil) {
			t.Errorf("route %s authorizer %v", r.Key, r.Authorizer)
		}
		if (r.Key == "echo") != r.TwoWay {
			t.Errorf("route %s two-way %v", r.Key, r.TwoWay)
		}
	}
	if strings.Join(keys, " ") != "$connect $default echo" {
		t.Errorf("routes %v", keys)
	}
	a := s.Routes[0].Authorizer
	if a.Function != auth || a.Name != "Authorizer" || len(a.IdentitySources) != 1 || a.IdentitySources[0] != "route.request.querystring.token" {
		t.Errorf("authorizer = %+v", a)
	}

	if len(s.Tables) != 2 {
		t.Fatalf("tables = %v", s.Tables)
	}
	g, tbl := s.Tables[0], s.Tables[1]
	if tbl.Name != "Table" || tbl.TTLAttribute != "ttl" || len(tbl.KeySchema) != 2 || tbl.KeySchema[1].KeyType != "RANGE" {
		t.Errorf("Table = %+v", tbl)
	}
	if g.Name != "global-table" || len(g.GlobalIndex) != 1 || g.GlobalIndex[0].IndexName != "byG" || g.GlobalIndex[0].ProjectionType != "ALL" {
		t.Errorf("GlobalTable = %+v", g)
	}
}

// mutate loads the minimal template, applies edit to its JSON, and parses it.
func mutate(t *testing.T, edit func(res map[string]any)) error {
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
	_, err = Parse(data, "testdata", opts)
	return err
}

func props(res map[string]any, id string) map[string]any {
	return res[id].(map[string]any)["Properties"].(map[string]any)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(res map[string]any)
		resource string
		property string
	}{
		{"unknown protocol", func(r map[string]any) { props(r, "Api")["ProtocolType"] = "REST" }, "Api", "ProtocolType"},
		{"HTTP integration", func(r map[string]any) { props(r, "ChatIntegration")["IntegrationType"] = "HTTP_PROXY" }, "ChatIntegration", "IntegrationType"},
		{"non-Lambda URI", func(r map[string]any) { props(r, "ChatIntegration")["IntegrationUri"] = "https://example.com" }, "ChatIntegration", "IntegrationUri"},
		{"unknown function", func(r map[string]any) {
			props(r, "ChatIntegration")["IntegrationUri"] = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:elsewhere/invocations"
		}, "ChatIntegration", "IntegrationUri"},
		{"TOKEN authorizer", func(r map[string]any) { props(r, "Authorizer")["AuthorizerType"] = "TOKEN" }, "Authorizer", "AuthorizerType"},
		{"IAM auth", func(r map[string]any) { props(r, "ConnectRoute")["AuthorizationType"] = "AWS_IAM" }, "ConnectRoute", "AuthorizationType"},
		{"bad target", func(r map[string]any) { props(r, "DefaultRoute")["Target"] = "integrations/nope" }, "DefaultRoute", "Target"},
		{"node runtime", func(r map[string]any) { props(r, "ChatFunction")["Runtime"] = "nodejs20.x" }, "ChatFunction", "Runtime"},
		{"no stage", func(r map[string]any) { delete(r, "Stage") }, "Api", ""},
		{"unsupported type", func(r map[string]any) {
			r["Layer"] = map[string]any{"Type": "AWS::Lambda::LayerVersion", "Properties": map[string]any{}}
		}, "Layer", ""},
		{"nothing to run", func(r map[string]any) {
			r["X"] = map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{"Runtime": "provided.al2023"}}
		}, "X", "Metadata"},
	} {
		err := mutate(t, tc.edit)
		var te *Error
		if !errors.As(err, &te) {
			t.Errorf("%s: err = %v, want a *template.Error", tc.name, err)
			continue
		}
		if tc.resource != "" && te.Resource != tc.resource || te.Property != tc.property && tc.property != "" {
			t.Errorf("%s: error names %s / %s, want %s / %s (%v)", tc.name, te.Resource, te.Property, tc.resource, tc.property, err)
		}
	}
}

// TestWronglyTypedProperty checks that a property of the wrong JSON type is
// reported with the resource, the property and the type found, instead of
// being read as "" and failing later with a misleading problem.
func TestWronglyTypedProperty(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(res map[string]any)
		resource string
		property string
		problem  string
	}{
		{"timeout as text", func(r map[string]any) { props(r, "ChatFunction")["Timeout"] = "ten" }, "ChatFunction", "Timeout", `want a whole number, found "ten"`},
		{"timeout as boolean", func(r map[string]any) { props(r, "ChatFunction")["Timeout"] = true }, "ChatFunction", "Timeout", "want a number, found a boolean"},
		{"memory as list", func(r map[string]any) { props(r, "ChatFunction")["MemorySize"] = []any{256} }, "ChatFunction", "MemorySize", "want a number, found a list"},
		{"fractional concurrency", func(r map[string]any) { props(r, "ChatFunction")["ReservedConcurrentExecutions"] = 1.5 }, "ChatFunction", "ReservedConcurrentExecutions", `want a whole number, found "1.5"`},
		{"runtime as number", func(r map[string]any) { props(r, "ChatFunction")["Runtime"] = 2023 }, "ChatFunction", "Runtime", "want a string, found a number"},
		{"function name from Ref", func(r map[string]any) {
			props(r, "ChatFunction")["FunctionName"] = map[string]any{"Ref": "AWS::StackName"}
		}, "ChatFunction", "FunctionName", "want a string, found the intrinsic function Ref (this property must be a literal locally)"},
		{"protocol as object", func(r map[string]any) { props(r, "Api")["ProtocolType"] = map[string]any{"a": 1, "b": 2} }, "Api", "ProtocolType", "want a string, found an object"},
		{"stage name as number", func(r map[string]any) { props(r, "Stage")["StageName"] = 1 }, "Stage", "StageName", "want a string, found a number"},
		{"integration type as boolean", func(r map[string]any) { props(r, "ChatIntegration")["IntegrationType"] = false }, "ChatIntegration", "IntegrationType", "want a string, found a boolean"},
		{"authorizer type as list", func(r map[string]any) { props(r, "Authorizer")["AuthorizerType"] = []any{"REQUEST"} }, "Authorizer", "AuthorizerType", "want a string, found a list"},
		{"identity source as number", func(r map[string]any) { props(r, "Authorizer")["IdentitySource"] = 7 }, "Authorizer", "IdentitySource", "want a list of strings, found a number"},
		{"route key as number", func(r map[string]any) { props(r, "DefaultRoute")["RouteKey"] = 1 }, "DefaultRoute", "RouteKey", "want a string, found a number"},
		{"authorization type as number", func(r map[string]any) { props(r, "ConnectRoute")["AuthorizationType"] = 0 }, "ConnectRoute", "AuthorizationType", "want a string, found a number"},
		{"table name as object", func(r map[string]any) {
			props(r, "Table")["TableName"] = map[string]any{"Fn::Join": []any{"", []any{"a"}}}
		}, "Table", "TableName", "want a string, found the intrinsic function Fn::Join (this property must be a literal locally)"},
		{"go package as list", func(r map[string]any) {
			r["ChatFunction"].(map[string]any)["Metadata"].(map[string]any)[goPackageKey] = []any{"./lambdas/chat"}
		}, "ChatFunction", "Metadata." + goPackageKey, "want a string, found a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mutate(t, tc.edit)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *template.Error", err)
			}
			if te.Resource != tc.resource || te.Property != tc.property || te.Problem != tc.problem {
				t.Errorf("got %s / %s / %q, want %s / %s / %q", te.Resource, te.Property, te.Problem, tc.resource, tc.property, tc.problem)
			}
			if !strings.Contains(err.Error(), tc.resource) || !strings.Contains(err.Error(), "property "+tc.property+": ") {
				t.Errorf("message %q does not name the resource and property", err)
			}
		})
	}
}

// TestGoPackageKeyFromCaller checks that the Go package is read under the
// key the caller names, and only there: under another key, the authorizer
// (which has no asset in the testdata) has nothing to run.
func TestGoPackageKeyFromCaller(t *testing.T) {
	for _, tc := range []struct {
		key     string
		wantPkg string
		wantErr string
	}{
		{goPackageKey, "./lambdas/chat", ""},
		{"other:goPackage", "", "AuthorizerFunction (AWS::Lambda::Function) property Metadata: neither other:goPackage nor aws:asset:path"},
		{"", "", "AuthorizerFunction (AWS::Lambda::Function) property Metadata: neither aws:asset:path"},
	} {
		o := opts
		o.GoPackageKey = tc.key
		s, err := Load("testdata/minimal.template.json", o)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("key %q: err = %v, want it to contain %q", tc.key, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("key %q: %v", tc.key, err)
		}
		if got := function(t, s, "ChatFunction").GoPackage; got != tc.wantPkg {
			t.Errorf("key %q: GoPackage = %q, want %q", tc.key, got, tc.wantPkg)
		}
	}
}

func TestUnknownTypeIsAWarning(t *testing.T) {
	data, err := os.ReadFile("testdata/minimal.template.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.Unmarshal(data, &doc)
	doc["Resources"].(map[string]any)["Stream"] = map[string]any{"Type": "AWS::Kinesis::Stream", "Properties": map[string]any{}}
	data, _ = json.Marshal(doc)
	s, err := Parse(data, "testdata", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "Stream (AWS::Kinesis::Stream)") {
		t.Errorf("warnings = %v", s.Warnings)
	}
}

func TestCheckFresh(t *testing.T) {
	root := t.TempDir()
	tpl := filepath.Join(root, "cdk.out", "WsChat-dev.template.json")
	if err := CheckFresh(tpl, root); !errors.Is(err, ErrMissing) {
		t.Errorf("missing template: err = %v, want ErrMissing", err)
	}
	src := filepath.Join(root, "internal", "chat", "chat.go")
	for _, p := range []string{tpl, src, filepath.Join(root, "lambdas", "chat", "main_test.go")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(root, "lambdas", "chat", "main_test.go"), time.Now().Add(time.Hour), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := CheckFresh(tpl, root); err != nil {
		t.Errorf("fresh template (a newer _test.go does not count): %v", err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(src, future, future); err != nil {
		t.Fatal(err)
	}
	var stale *StaleError
	if err := CheckFresh(tpl, root); !errors.As(err, &stale) || stale.Newer != filepath.Join("internal", "chat", "chat.go") {
		t.Errorf("stale template: err = %v, want a StaleError naming internal/chat/chat.go", err)
	}
}

func TestStaleErrorNamesEveryNewerFile(t *testing.T) {
	root := t.TempDir()
	tpl := filepath.Join(root, "cdk.out", "T.template.json")
	base := time.Now().Add(-time.Hour)
	files := []string{tpl}
	for i := range 7 {
		files = append(files, filepath.Join(root, "internal", "p", fmt.Sprintf("f%d.go", i)))
	}
	for i, p := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Minute) // f6 is the newest
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	var stale *StaleError
	err := CheckFresh(tpl, root)
	if !errors.As(err, &stale) {
		t.Fatalf("err = %v, want a StaleError", err)
	}
	want := []string{"internal/p/f6.go", "internal/p/f5.go", "internal/p/f4.go", "internal/p/f3.go", "internal/p/f2.go", "internal/p/f1.go", "internal/p/f0.go"}
	if strings.Join(stale.Files, ",") != strings.Join(want, ",") || stale.Newer != want[0] {
		t.Errorf("files = %v newest %s, want %v", stale.Files, stale.Newer, want)
	}
	msg := err.Error()
	for _, w := range []string{"7 source files changed since the synth", "internal/p/f6.go, internal/p/f5.go", "and 2 more", "synthesize again"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
}
