package template

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// withEvents adds to the queues fixture what the stack declares where
// events are on: the table's stream and its mapping, a bus, rules, a secret.
func withEvents(res map[string]any) {
	props(res, "Table")["StreamSpecification"] = map[string]any{"StreamViewType": "NEW_AND_OLD_IMAGES"}
	arn := func(id string) map[string]any { return map[string]any{"Fn::GetAtt": []any{id, "Arn"}} }
	res["Bus"] = map[string]any{"Type": "AWS::Events::EventBus", "Properties": map[string]any{"Name": "chat-bus"}}
	res["Secret"] = map[string]any{"Type": "AWS::SecretsManager::Secret", "Properties": map[string]any{
		"GenerateSecretString": map[string]any{"PasswordLength": 40, "ExcludePunctuation": true}}}
	res["Literal"] = map[string]any{"Type": "AWS::SecretsManager::Secret", "Properties": map[string]any{"Name": "lit", "SecretString": "s3cret"}}
	res["StreamMapping"] = map[string]any{"Type": "AWS::Lambda::EventSourceMapping", "Properties": map[string]any{
		"EventSourceArn": map[string]any{"Fn::GetAtt": []any{"Table", "StreamArn"}}, "FunctionName": map[string]any{"Ref": "ChatFunction"},
		"StartingPosition": "TRIM_HORIZON", "BatchSize": 50, "MaximumBatchingWindowInSeconds": 1, "BisectBatchOnFunctionError": true,
		"MaximumRetryAttempts": 10, "MaximumRecordAgeInSeconds": 3600, "FunctionResponseTypes": []any{"ReportBatchItemFailures"},
		"ParallelizationFactor": 2, "FilterCriteria": map[string]any{"Filters": []any{map[string]any{"Pattern": `{"eventName":["INSERT"]}`}}},
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": arn("NamedQueue")}}}}
	res["Rule"] = map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
		"EventBusName": map[string]any{"Ref": "Bus"}, "EventPattern": map[string]any{"source": []any{"wschat"}},
		"Targets": []any{
			map[string]any{"Id": "fn", "Arn": arn("ChatFunction"), "RetryPolicy": map[string]any{"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 600},
				"DeadLetterConfig": map[string]any{"Arn": arn("NamedQueue")}},
			map[string]any{"Id": "q", "Arn": arn("FanoutQueue1A2B3C4D"), "InputTransformer": map[string]any{
				"InputPathsMap": map[string]any{"c": "$.detail.channel"}, "InputTemplate": `{"c":<c>}`}},
		}}}
	res["DefaultBusRule"] = map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
		"Name": "on-default", "State": "DISABLED", "EventPattern": `{"source":["x"]}`,
		"Targets": []any{map[string]any{"Id": "q", "Arn": arn("NamedQueue"), "InputPath": "$.detail"}}}}
	env := props(res, "ChatFunction")["Environment"].(map[string]any)["Variables"].(map[string]any)
	env["BUS"] = map[string]any{"Ref": "Bus"}
	env["BUS_ARN"] = arn("Bus")
	env["SECRET"] = map[string]any{"Ref": "Secret"}
	env["RULE_ARN"] = arn("Rule")
}

func parseWith(t *testing.T, edits ...func(map[string]any)) (*Stack, error) {
	t.Helper()
	data, err := os.ReadFile("testdata/queues.template.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.Unmarshal(data, &doc)
	for _, e := range edits {
		e(doc["Resources"].(map[string]any))
	}
	data, _ = json.Marshal(doc)
	return Parse(data, "testdata", queueOpts)
}

func TestParseIntegrations(t *testing.T) {
	s, err := parseWith(t, withEvents)
	if err != nil {
		t.Fatal(err)
	}
	var table *Table
	for _, tb := range s.Tables {
		if tb.LogicalID == "Table" {
			table = tb
		}
	}
	if table.StreamViewType != "NEW_AND_OLD_IMAGES" || table.StreamARN != "arn:aws:dynamodb:eu-west-1:000000000000:table/Table/stream/1970-01-01T00:00:00.000" {
		t.Errorf("table %+v", table)
	}
	if len(s.StreamMappings) != 1 {
		t.Fatalf("stream mappings %d, want 1", len(s.StreamMappings))
	}
	m := s.StreamMappings[0]
	if m.Table != table || m.Function.LogicalID != "ChatFunction" || m.BatchSize != 50 || m.BatchingWindow != time.Second || !m.TrimHorizon ||
		!m.BisectOnError || m.MaxRetries != 10 || m.MaxRecordAge != time.Hour || !m.ReportBatchItemFailures || m.OnFailure.LogicalID != "NamedQueue" ||
		len(m.Filters) != 1 || !m.Enabled {
		t.Errorf("stream mapping %+v", m)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "ParallelizationFactor 2") {
		t.Errorf("warnings %v, want the parallelization factor's", s.Warnings)
	}
	if len(s.EventBuses) != 2 || s.EventBuses[0].Name != "default" || s.EventBuses[1].ARN != "arn:aws:events:eu-west-1:000000000000:event-bus/chat-bus" {
		t.Errorf("buses %+v", s.EventBuses)
	}
	rules := map[string]*Rule{}
	for _, r := range s.Rules {
		rules[r.LogicalID] = r
	}
	r := rules["Rule"]
	if r.Name != "Rule" || r.Bus != s.EventBuses[1] || !r.Enabled || r.ARN != "arn:aws:events:eu-west-1:000000000000:rule/chat-bus/Rule" || len(r.Targets) != 2 {
		t.Fatalf("rule %+v", r)
	}
	fn, q := r.Targets[0], r.Targets[1]
	if fn.Function == nil || fn.MaxRetries != 4 || fn.MaxEventAge != 10*time.Minute || fn.DeadLetterQueue.LogicalID != "NamedQueue" {
		t.Errorf("function target %+v", fn)
	}
	if q.Queue == nil || q.Queue.LogicalID != "FanoutQueue1A2B3C4D" || q.InputTransformer.Template != `{"c":<c>}` || q.MaxRetries != 185 || q.MaxEventAge != 24*time.Hour {
		t.Errorf("queue target %+v", q)
	}
	d := rules["DefaultBusRule"]
	if d.Name != "on-default" || d.Bus != s.EventBuses[0] || d.Enabled || string(d.Pattern) != `{"source":["x"]}` || d.Targets[0].InputPath != "$.detail" {
		t.Errorf("default-bus rule %+v", d)
	}
	secrets := map[string]*Secret{}
	for _, sec := range s.Secrets {
		secrets[sec.LogicalID] = sec
	}
	if g := secrets["Secret"].Generate; g == nil || g.PasswordLength != 40 || !g.ExcludePunctuation || !strings.HasPrefix(secrets["Secret"].ARN, "arn:aws:secretsmanager:eu-west-1:000000000000:secret:Secret-") {
		t.Errorf("generated secret %+v", secrets["Secret"])
	}
	if l := secrets["Literal"]; l.Value != "s3cret" || l.Name != "lit" || l.Generate != nil {
		t.Errorf("literal secret %+v", l)
	}
	chat := function(t, s, "ChatFunction")
	for k, want := range map[string]string{"BUS": "chat-bus", "BUS_ARN": s.EventBuses[1].ARN, "SECRET": secrets["Secret"].ARN, "RULE_ARN": r.ARN} {
		if chat.Env[k] != want {
			t.Errorf("env %s = %q, want %q", k, chat.Env[k], want)
		}
	}
}

func TestIntegrationErrors(t *testing.T) {
	set := func(id, prop string, v any) func(map[string]any) {
		return func(r map[string]any) { props(r, id)[prop] = v }
	}
	target := func(extra map[string]any) func(map[string]any) {
		return func(r map[string]any) {
			tg := map[string]any{"Id": "x", "Arn": map[string]any{"Fn::GetAtt": []any{"NamedQueue", "Arn"}}}
			for k, v := range extra {
				tg[k] = v
			}
			props(r, "Rule")["Targets"] = []any{tg}
		}
	}
	for _, tc := range []struct {
		name, resource, property, problem string
		edit                              func(map[string]any)
	}{
		{"schedule and pattern", "Rule", "EventPattern", "both a schedule and an event pattern", set("Rule", "ScheduleExpression", "rate(1 minute)")},
		{"bad pattern", "Rule", "EventPattern", "empty list", set("Rule", "EventPattern", map[string]any{"source": []any{}})},
		{"no pattern", "Rule", "EventPattern", "missing", func(r map[string]any) { delete(props(r, "Rule"), "EventPattern") }},
		{"unknown bus", "Rule", "EventBusName", "is not a bus of this template", set("Rule", "EventBusName", "elsewhere")},
		{"state", "Rule", "State", "want ENABLED or DISABLED", set("Rule", "State", "ON")},
		{"target elsewhere", "Rule", "Targets[0].Arn", "is not a function or queue of this template", target(map[string]any{"Arn": "arn:aws:sns:eu-west-1:1:topic"})},
		{"http target", "Rule", "Targets[0].HttpParameters", "only Lambda functions and SQS queues", target(map[string]any{"HttpParameters": map[string]any{}})},
		{"two inputs", "Rule", "Targets[0]", "exclude each other", target(map[string]any{"Input": `{}`, "InputPath": "$.detail"})},
		{"bad input", "Rule", "Targets[0].Input", "not valid JSON", target(map[string]any{"Input": `{`})},
		{"retry range", "Rule", "Targets[0].RetryPolicy.MaximumRetryAttempts", "outside 0-185", target(map[string]any{"RetryPolicy": map[string]any{"MaximumRetryAttempts": 500}})},
		{"DLQ elsewhere", "Rule", "Targets[0].DeadLetterConfig.Arn", "is not a queue of this template", target(map[string]any{"DeadLetterConfig": map[string]any{"Arn": "arn:aws:sqs:eu-west-1:1:x"}})},
		{"view type", "Table", "StreamSpecification.StreamViewType", "want KEYS_ONLY", set("Table", "StreamSpecification", map[string]any{"StreamViewType": "ALL"})},
		{"starting position", "StreamMapping", "StartingPosition", "want LATEST or TRIM_HORIZON", set("StreamMapping", "StartingPosition", "AT_TIMESTAMP")},
		{"tumbling window", "StreamMapping", "TumblingWindowInSeconds", "not emulated", set("StreamMapping", "TumblingWindowInSeconds", 30)},
		{"filter", "StreamMapping", "FilterCriteria.Filters[0].Pattern", "event pattern", set("StreamMapping", "FilterCriteria", map[string]any{"Filters": []any{map[string]any{"Pattern": "{"}}})},
		{"retries", "StreamMapping", "MaximumRetryAttempts", "outside -1-10000", set("StreamMapping", "MaximumRetryAttempts", -5)},
		{"record age", "StreamMapping", "MaximumRecordAgeInSeconds", "want -1 or 60-604800", set("StreamMapping", "MaximumRecordAgeInSeconds", 5)},
		{"destination elsewhere", "StreamMapping", "DestinationConfig.OnFailure.Destination", "only SQS destinations", set("StreamMapping", "DestinationConfig",
			map[string]any{"OnFailure": map[string]any{"Destination": "arn:aws:sns:eu-west-1:1:t"}})},
		{"stream without a table stream", "StreamMapping", "EventSourceArn", "has no StreamSpecification", func(r map[string]any) { delete(props(r, "Table"), "StreamSpecification") }},
		{"secret both ways", "Secret", "GenerateSecretString", "exclude each other", set("Secret", "SecretString", "x")},
		{"api destination", "Dest", "", "API destinations are not emulated", func(r map[string]any) {
			r["Dest"] = map[string]any{"Type": "AWS::Events::ApiDestination", "Properties": map[string]any{}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseWith(t, withEvents, tc.edit)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *template.Error", err)
			}
			if te.Resource != tc.resource || te.Property != tc.property || !strings.Contains(te.Problem, tc.problem) {
				t.Errorf("got %s / %s / %q, want %s / %s / %q", te.Resource, te.Property, te.Problem, tc.resource, tc.property, tc.problem)
			}
		})
	}
}
