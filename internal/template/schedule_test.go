package template

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// withRule parses the minimal template with one AWS::Events::Rule whose
// properties edit changes from a valid one-minute schedule of ChatFunction.
func withRule(t *testing.T, edit func(p map[string]any)) (*Stack, error) {
	t.Helper()
	data, err := os.ReadFile("testdata/minimal.template.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	p := map[string]any{
		"ScheduleExpression": "rate(1 minute)", "State": "ENABLED",
		"Targets": []any{map[string]any{"Arn": map[string]any{"Fn::GetAtt": []any{"ChatFunction", "Arn"}}, "Id": "Target0",
			"RetryPolicy": map[string]any{"MaximumRetryAttempts": 0}}},
	}
	edit(p)
	doc["Resources"].(map[string]any)["Tick"] = map[string]any{"Type": "AWS::Events::Rule", "Properties": p}
	data, _ = json.Marshal(doc)
	return Parse(data, "testdata", opts)
}

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(p map[string]any)
		every   time.Duration
		enabled bool
		input   string
	}{
		{"one minute", func(map[string]any) {}, time.Minute, true, ""},
		{"hours, disabled", func(p map[string]any) { p["ScheduleExpression"], p["State"] = "rate(2 hours)", "DISABLED" }, 2 * time.Hour, false, ""},
		{"constant input", func(p map[string]any) {
			p["Targets"].([]any)[0].(map[string]any)["Input"] = `{"k":1}`
		}, time.Minute, true, `{"k":1}`},
	}
	for _, tt := range tests {
		s, err := withRule(t, tt.edit)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(s.Schedules) != 1 {
			t.Fatalf("%s: schedules %v, want one", tt.name, s.Schedules)
		}
		got := s.Schedules[0]
		if got.Every != tt.every || got.Enabled != tt.enabled || len(got.Targets) != 1 ||
			got.Targets[0].Function != function(t, s, "ChatFunction") || got.Targets[0].Input != tt.input {
			t.Errorf("%s: schedule %+v, want every %v, enabled %v, ChatFunction with input %q", tt.name, got, tt.every, tt.enabled, tt.input)
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	target := func(p map[string]any) map[string]any { return p["Targets"].([]any)[0].(map[string]any) }
	tests := []struct {
		name, prop, problem string
		edit                func(p map[string]any)
	}{
		{"cron", "ScheduleExpression", "cron schedules are not emulated", func(p map[string]any) { p["ScheduleExpression"] = "cron(0 12 * * ? *)" }},
		{"bad rate", "ScheduleExpression", "want rate(", func(p map[string]any) { p["ScheduleExpression"] = "rate(0 minutes)" }},
		{"singular mismatch", "ScheduleExpression", "plural", func(p map[string]any) { p["ScheduleExpression"] = "rate(5 minute)" }},
		{"schedule and pattern", "EventPattern", "both a schedule and an event pattern", func(p map[string]any) {
			p["EventPattern"] = map[string]any{"source": []any{"aws.ec2"}}
		}},
		{"no targets", "Targets", "missing", func(p map[string]any) { delete(p, "Targets") }},
		{"foreign target", "Targets[0].Arn", "not a function of this template", func(p map[string]any) {
			target(p)["Arn"] = "arn:aws:lambda:us-east-1:1:function:elsewhere"
		}},
		{"input transformer", "Targets[0].InputTransformer", "only a constant Input", func(p map[string]any) {
			target(p)["InputTransformer"] = map[string]any{"InputTemplate": "x"}
		}},
		{"bad state", "State", "want ENABLED or DISABLED", func(p map[string]any) { p["State"] = "ON" }},
	}
	for _, tt := range tests {
		_, err := withRule(t, tt.edit)
		var te *Error
		if !errors.As(err, &te) || te.Resource != "Tick" || te.Property != tt.prop || !strings.Contains(te.Problem, tt.problem) {
			t.Errorf("%s: err = %v, want a *template.Error on Tick %s saying %q", tt.name, err, tt.prop, tt.problem)
		}
	}
}
