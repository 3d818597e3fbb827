package chatstack

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wire/events"
)

// TestEventsPerEnvironment checks the integrations (issue #22) in every
// environment: the table's stream read by the events function through a
// mapping with the store's filters, bisection, retries and the events DLQ
// as on-failure destination; a bus of the stack's own (or the one given);
// alarms on the DLQs and the iterator age; text only in dev; and, where
// the -c keys ask (prod-issuer), webhook rules with the input transformer
// the webhooks function reads, and the before-send hook's settings.
func TestEventsPerEnvironment(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			res := template["Resources"].(map[string]any)
			fns := functionByPackage(t, template)
			vars := func(fn string) map[string]any {
				return props(res[fns[fn]].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
			}
			var table string
			for id, tb := range resources(t, template, "AWS::DynamoDB::Table") {
				table = id
				if got := asJSON(props(tb)["StreamSpecification"]); got != `{"StreamViewType":"NEW_AND_OLD_IMAGES"}` {
					t.Errorf("table stream = %s, want new and old images", got)
				}
			}
			dlq := queueByPrefix(t, template, "EventsDeadLetters")
			var mapped int
			for id, m := range resources(t, template, "AWS::Lambda::EventSourceMapping") {
				p := props(m)
				if refID(p["EventSourceArn"]) != table {
					continue
				}
				mapped++
				if refID(p["FunctionName"]) != fns[contract.FunctionEvents] {
					t.Errorf("%s: the stream's mapping invokes %v, want the events function", id, p["FunctionName"])
				}
				if p["StartingPosition"] != "TRIM_HORIZON" || p["BisectBatchOnFunctionError"] != true || p["MaximumRetryAttempts"] != 10.0 ||
					asJSON(p["FunctionResponseTypes"]) != `["ReportBatchItemFailures"]` {
					t.Errorf("%s: mapping %s, want TRIM_HORIZON, bisection, 10 retries, partial batch responses", id, asJSON(p))
				}
				if got := refID(p["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]); got != dlq || dlq == "" {
					t.Errorf("%s: on failure to %q, want the events DLQ %q", id, got, dlq)
				}
				var filters []string
				for _, f := range p["FilterCriteria"].(map[string]any)["Filters"].([]any) {
					filters = append(filters, f.(map[string]any)["Pattern"].(string))
				}
				if len(filters) != len(contract.EventStreamFilters) {
					t.Fatalf("%s: %d filters, want the store's %d", id, len(filters), len(contract.EventStreamFilters))
				}
				for i, f := range filters {
					if !sameJSON(t, f, contract.EventStreamFilters[i]) {
						t.Errorf("%s: filter %d = %s, want %s", id, i, f, contract.EventStreamFilters[i])
					}
				}
			}
			if mapped != 1 {
				t.Errorf("%d mappings from the table's stream, want 1", mapped)
			}
			buses := resources(t, template, "AWS::Events::EventBus")
			ev := vars(contract.FunctionEvents)
			if cfg.Events.BusARN == "" {
				if len(buses) != 1 {
					t.Errorf("%d buses, want the stack's own", len(buses))
				}
				for id := range buses {
					if got := asJSON(ev[contract.EnvEventBus]); !strings.Contains(got, id) {
						t.Errorf("events function's bus = %s, want %s", got, id)
					}
				}
			} else if len(buses) != 0 || ev[contract.EnvEventBus] != cfg.Events.BusARN {
				t.Errorf("buses %d, events function's bus %v; want none of its own and %s", len(buses), ev[contract.EnvEventBus], cfg.Events.BusARN)
			}
			if want := map[bool]string{true: "true", false: "false"}[strings.HasPrefix(env, "dev")]; ev[contract.EnvEventsText] != want {
				t.Errorf("events text = %v, want %s (text in dev only)", ev[contract.EnvEventsText], want)
			}
			if vars(contract.FunctionPublish)[contract.EnvNoticeRecords] != "true" {
				t.Error("the publish function does not record notices: user.notified would never be emitted")
			}
			alarms := map[string]bool{}
			for id := range resources(t, template, "AWS::CloudWatch::Alarm") {
				for _, name := range []string{"EventsDeadLetters", "EventsIteratorAge", "eventsErrors", "WebhooksDeadLetters", "webhooksErrors"} {
					if strings.HasPrefix(id, "Monitoring"+name) {
						alarms[name] = true
					}
				}
			}
			wantAlarms := []string{"EventsDeadLetters", "EventsIteratorAge", "eventsErrors"}
			if len(cfg.Events.Webhooks) > 0 {
				wantAlarms = append(wantAlarms, "WebhooksDeadLetters", "webhooksErrors")
			}
			for _, a := range wantAlarms {
				if !alarms[a] {
					t.Errorf("no %s alarm", a)
				}
			}
			checkWebhooks(t, template, cfg)
			chat := vars(contract.FunctionChat)
			if b := cfg.BeforeSend; b == nil {
				if _, ok := chat[contract.EnvHookFunction]; ok {
					t.Error("a hook without BeforeSend")
				}
			} else if chat[contract.EnvHookFunction] != b.FunctionARN || chat[contract.EnvHookTimeout] != "250ms" || chat[contract.EnvHookFailure] != "closed" {
				t.Errorf("hook settings %v %v %v, want %s 250ms closed", chat[contract.EnvHookFunction], chat[contract.EnvHookTimeout], chat[contract.EnvHookFailure], b.FunctionARN)
			}
		})
	}
}

// checkWebhooks: one rule per webhook, on the bus, for its detail-types,
// to the deliveries queue wrapped as the webhooks function reads it, and
// the function told each webhook's URL and secret.
func checkWebhooks(t *testing.T, template map[string]any, cfg Config) {
	t.Helper()
	rules := rulesWith(t, template, "EventPattern")
	if len(rules) != len(cfg.Events.Webhooks) {
		t.Errorf("%d event-pattern rules, want one per webhook (%d)", len(rules), len(cfg.Events.Webhooks))
	}
	deliveries := queueByPrefix(t, template, "EventsWebhookDeliveries")
	for _, w := range cfg.Events.Webhooks {
		var found bool
		for id, r := range rules {
			if !strings.HasPrefix(id, "EventsWebhook"+w.Name) {
				continue
			}
			found = true
			p := props(r)
			pattern := p["EventPattern"].(map[string]any)
			wantTypes := w.DetailTypes
			if len(wantTypes) == 0 {
				wantTypes = events.Types
			}
			if asJSON(pattern["source"]) != asJSON([]string{cfg.Events.Source}) || !sameStrings(pattern["detail-type"], wantTypes) {
				t.Errorf("%s: pattern %s, want source %s and %v", id, asJSON(pattern), cfg.Events.Source, wantTypes)
			}
			target := p["Targets"].([]any)[0].(map[string]any)
			if refID(target["Arn"]) != deliveries {
				t.Errorf("%s: target %s, want the deliveries queue %s", id, asJSON(target["Arn"]), deliveries)
			}
			if got := target["InputTransformer"].(map[string]any)["InputTemplate"]; got != `{"webhook":"`+w.Name+`","event":<aws.events.event.json>}` {
				t.Errorf("%s: input template %v", id, got)
			}
		}
		if !found {
			t.Errorf("no rule for webhook %s", w.Name)
		}
	}
	if len(cfg.Events.Webhooks) > 0 {
		env := asJSON(props(template["Resources"].(map[string]any)[functionByPackage(t, template)[contract.FunctionWebhooks]].(map[string]any))["Environment"])
		for _, w := range cfg.Events.Webhooks {
			if !strings.Contains(env, w.URL) {
				t.Errorf("the webhooks function's environment %s lacks %s", env, w.URL)
			}
		}
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	return asJSON(x) == asJSON(y)
}

func sameStrings(v any, want []string) bool {
	var got []string
	for _, x := range v.([]any) {
		got = append(got, x.(string))
	}
	return slices.Equal(sorted(got), sorted(want))
}
