package chatstack

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wschatcdk"
)

// queueIDs are the logical ids of the task queue and its dead-letter queue.
type queueIDs struct{ tasks, dlq string }

// fanoutQueueIDs finds the two queues: the task queue is the one with a
// redrive policy, the dead-letter queue the one it names.
func fanoutQueueIDs(t *testing.T, template map[string]any) queueIDs {
	t.Helper()
	queues := resources(t, template, "AWS::SQS::Queue")
	for id := range queues {
		if !strings.HasPrefix(id, "FanoutQueue") {
			delete(queues, id) // the integrations' (events_test.go)
		}
	}
	if len(queues) != 2 {
		t.Fatalf("got %d queues %v, want 2 (tasks and dead letters)", len(queues), keys(queues))
	}
	var ids queueIDs
	for id, q := range queues {
		if rp, ok := props(q)["RedrivePolicy"].(map[string]any); ok {
			ids.tasks, ids.dlq = id, refID(rp["deadLetterTargetArn"])
		}
	}
	if _, ok := queues[ids.dlq]; ids.tasks == "" || !ok || ids.dlq == ids.tasks {
		t.Fatalf("queues %v: want one with a redrive policy to the other", keys(queues))
	}
	return ids
}

// wantFanout are the per-environment settings the issue asks for, written
// out so that a change to Environments() shows up here as well.
var wantFanout = map[string]struct{ threshold, concurrency int }{
	"dev": {2000, 5}, "staging": {2000, 10}, "prod": {2000, 50}, "prod-issuer": {2000, 50}, "dev-pinned": {2000, 5},
}

func TestFanoutQueuesPerEnvironment(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			res := template["Resources"].(map[string]any)
			ids := fanoutQueueIDs(t, template)
			fnTimeout := props(res[functionByPackage(t, template)[contract.FunctionFanout]].(map[string]any))["Timeout"]
			wantPolicy := "Delete"
			if cfg.retain() {
				wantPolicy = "Retain"
			}
			for _, q := range []struct {
				id   string
				want map[string]string
			}{
				{ids.tasks, map[string]string{
					"SqsManagedSseEnabled":   "true",
					"MessageRetentionPeriod": "345600",
					"VisibilityTimeout":      fmt.Sprint(int(wschatcdk.FanoutVisibilityFactor * cfg.FanoutTimeout.Seconds())),
					"RedrivePolicy":          fmt.Sprintf(`{"deadLetterTargetArn":{"Fn::GetAtt":["%s","Arn"]},"maxReceiveCount":%d}`, ids.dlq, cfg.FanoutMaxReceives),
					"QueueName":              "null",
				}},
				{ids.dlq, map[string]string{
					"SqsManagedSseEnabled":   "true",
					"MessageRetentionPeriod": "1209600",
					"RedrivePolicy":          "null",
					"QueueName":              "null",
				}},
			} {
				p := props(res[q.id].(map[string]any))
				for k, want := range q.want {
					if got := asJSON(p[k]); got != want {
						t.Errorf("%s %s = %s, want %s", q.id, k, got, want)
					}
				}
				r := res[q.id].(map[string]any)
				if r["DeletionPolicy"] != wantPolicy || r["UpdateReplacePolicy"] != wantPolicy {
					t.Errorf("%s deletion/replace policy %v/%v, want %s", q.id, r["DeletionPolicy"], r["UpdateReplacePolicy"], wantPolicy)
				}
				assertDeniesPlainHTTP(t, template, q.id)
			}
			// Lambda's advice is 6x; anything at or below the function timeout
			// would hand a task to a second invocation while the first still
			// posts it.
			vt, _ := props(res[ids.tasks].(map[string]any))["VisibilityTimeout"].(float64)
			if ft, _ := fnTimeout.(float64); ft <= 0 || vt <= ft {
				t.Errorf("visibility timeout %v must be above the fanout function's timeout %v", vt, fnTimeout)
			}
		})
	}
}

// assertDeniesPlainHTTP checks that a queue policy on queue denies every
// request without TLS (enforceSSL).
func assertDeniesPlainHTTP(t *testing.T, template map[string]any, queue string) {
	t.Helper()
	for _, pol := range resources(t, template, "AWS::SQS::QueuePolicy") {
		p := props(pol)
		if qs, _ := p["Queues"].([]any); len(qs) != 1 || refID(qs[0]) != queue {
			continue
		}
		for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			if st["Effect"] == "Deny" && asJSON(st["Action"]) == `"sqs:*"` &&
				asJSON(st["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` && asJSON(st["Principal"]) == `{"AWS":"*"}` {
				return
			}
		}
	}
	t.Errorf("no queue policy on %s denies requests without TLS", queue)
}

func TestFanoutEventSourceMapping(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			mappings := resources(t, template, "AWS::Lambda::EventSourceMapping")
			for id, m := range mappings {
				if refID(props(m)["FunctionName"]) != functionByPackage(t, template)[contract.FunctionFanout] {
					delete(mappings, id) // the integrations' (events_test.go)
				}
			}
			if len(mappings) != 1 {
				t.Fatalf("got %d event source mappings, want 1", len(mappings))
			}
			p := props(firstMap(mappings))
			checks := []struct{ what, got, want string }{
				{"function", refID(p["FunctionName"]), functionByPackage(t, template)[contract.FunctionFanout]},
				{"source", asJSON(p["EventSourceArn"]), fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, fanoutQueueIDs(t, template).tasks)},
				{"batch size", asJSON(p["BatchSize"]), strconv.Itoa(cfg.FanoutBatchSize)},
				// Without it a batch with failed tasks would be deleted whole:
				// the handler reports failures in its response, never as an error.
				{"response types", asJSON(p["FunctionResponseTypes"]), `["ReportBatchItemFailures"]`},
				{"maximum concurrency", asJSON(p["ScalingConfig"]), fmt.Sprintf(`{"MaximumConcurrency":%d}`, wantFanout[env].concurrency)},
				{"batching window", asJSON(p["MaximumBatchingWindowInSeconds"]), "null"},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %s, want %s", c.what, c.got, c.want)
				}
			}
			if cfg.FanoutBatchSize < 1 || cfg.FanoutBatchSize > 5 {
				t.Errorf("batch size %d: want 1-5 (a task is up to ~1,000 posts, a batch runs one task after another)", cfg.FanoutBatchSize)
			}
		})
	}
}

// TestFanoutMappingAfterItsGrant: CloudFormation refuses to create an SQS
// event source mapping whose function role cannot receive from the queue.
// The mapping names the function, and the function must wait for the
// role's policy that holds the SQS grant.
func TestFanoutMappingAfterItsGrant(t *testing.T) {
	for _, env := range envNames {
		template := tmpl(t, env)
		res := template["Resources"].(map[string]any)
		fnID := functionByPackage(t, template)[contract.FunctionFanout]
		fn := res[fnID].(map[string]any)
		role := refID(props(fn)["Role"])
		var policy string
		for id, pol := range resources(t, template, "AWS::IAM::Policy") {
			if roles, _ := props(pol)["Roles"].([]any); len(roles) == 1 && refID(roles[0]) == role &&
				strings.Contains(asJSON(props(pol)["PolicyDocument"]), `"sqs:ReceiveMessage"`) {
				policy = id
			}
		}
		deps, _ := fn["DependsOn"].([]any)
		if policy == "" || !strings.Contains(asJSON(deps), `"`+policy+`"`) {
			t.Errorf("%s: fanout function depends on %v, want the policy with its SQS grant (%q)", env, deps, policy)
		}
	}
}

// TestFanoutFunctionEnvironment: the senders learn the queue and the
// threshold; the fanout function gets what compose.NewPusher reads, and no
// queue URL (it never enqueues).
func TestFanoutFunctionEnvironment(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			res := template["Resources"].(map[string]any)
			fns := functionByPackage(t, template)
			vars := func(name string) map[string]any {
				return props(res[fns[name]].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
			}
			queue := fanoutQueueIDs(t, template).tasks
			for _, name := range []string{contract.FunctionChat, contract.FunctionPublish} {
				v := vars(name)
				if got := asJSON(v[contract.EnvFanoutQueueURL]); got != `{"Ref":"`+queue+`"}` {
					t.Errorf("%s %s = %s, want the task queue's URL (Ref %s)", name, contract.EnvFanoutQueueURL, got, queue)
				}
				if want := strconv.Itoa(wantFanout[env].threshold); v[contract.EnvFanoutThreshold] != want {
					t.Errorf("%s %s = %v, want %s", name, contract.EnvFanoutThreshold, v[contract.EnvFanoutThreshold], want)
				}
			}
			for _, name := range []string{contract.FunctionConnect, contract.FunctionDisconnect, contract.FunctionAuthorizer, contract.FunctionFanout} {
				if _, ok := vars(name)[contract.EnvFanoutQueueURL]; ok {
					t.Errorf("%s gets %s; only the senders enqueue", name, contract.EnvFanoutQueueURL)
				}
			}
			v := vars(contract.FunctionFanout)
			want := map[string]string{
				contract.EnvLogLevel:         `"info"`,
				contract.EnvTableName:        `{"Ref":"TableCD117FA1"}`,
				contract.EnvCallbackURL:      asJSON(vars(contract.FunctionChat)[contract.EnvCallbackURL]),
				contract.EnvFanoutWorkers:    `"` + strconv.Itoa(cfg.FanoutWorkers) + `"`,
				contract.EnvMetricsNamespace: `"` + wschatcdk.MetricsNamespace(cfg.Name) + `"`,
			}
			if got := keys(v); len(got) != len(want) {
				t.Errorf("fanout environment %v, want exactly %v", got, keys(want))
			}
			for k, w := range want {
				if got := asJSON(v[k]); got != w {
					t.Errorf("fanout %s = %s, want %s", k, got, w)
				}
			}
		})
	}
}

func TestFanoutAlarms(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			ids := fanoutQueueIDs(t, template)
			topic := ""
			for id := range resources(t, template, "AWS::SNS::Topic") {
				topic = id
			}
			want := map[string]string{
				ids.tasks: fmt.Sprintf("ApproximateAgeOfOldestMessage Maximum 60s > %v for %d", wschatcdk.FanoutQueueAgeAlarm.Seconds(), wschatcdk.FanoutQueueAgePeriods),
				ids.dlq:   "ApproximateNumberOfMessagesVisible Maximum 60s > 0 for 1",
			}
			// The integrations' dead-letter queues alarm the same way.
			for _, prefix := range []string{"EventsDeadLetters", "EventsWebhookDeadLetters"} {
				if id := queueByPrefix(t, template, prefix); id != "" {
					want[id] = "ApproximateNumberOfMessagesVisible Maximum 60s > 0 for 1"
				}
			}
			got := map[string]string{}
			for id, a := range resources(t, template, "AWS::CloudWatch::Alarm") {
				p := props(a)
				if p["Namespace"] != "AWS/SQS" {
					continue
				}
				dims := p["Dimensions"].([]any)
				d := dims[0].(map[string]any)
				if len(dims) != 1 || d["Name"] != "QueueName" || asJSON(d["Value"]) != fmt.Sprintf(`{"Fn::GetAtt":["%s","QueueName"]}`, refID(d["Value"])) {
					t.Errorf("alarm %s dimensions %s, want the QueueName of one queue", id, asJSON(dims))
				}
				if refID(firstOf(p["AlarmActions"])) != topic || refID(firstOf(p["OKActions"])) != topic {
					t.Errorf("alarm %s does not notify the topic %s: %s", id, topic, asJSON(p["AlarmActions"]))
				}
				if p["ComparisonOperator"] != "GreaterThanThreshold" {
					t.Errorf("alarm %s compares %v", id, p["ComparisonOperator"])
				}
				got[refID(d["Value"])] = fmt.Sprintf("%v %v %vs > %v for %v", p["MetricName"], p["Statistic"], p["Period"], p["Threshold"], p["EvaluationPeriods"])
			}
			if asJSON(got) != asJSON(want) {
				t.Errorf("SQS alarms:\n got %s\nwant %s", asJSON(got), asJSON(want))
			}
		})
	}
}

func TestFanoutValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"threshold negative", func(c *Config) { c.FanoutThreshold = -5 }, "FanoutThreshold -5: must be 1 up to the send budget (SendBudget 50000)"},
		{"threshold over budget", func(c *Config) { c.FanoutThreshold = c.SendBudget + 1 }, "FanoutThreshold 50001: must be 1 up to the send budget (SendBudget 50000)"},
		{"concurrency 1", func(c *Config) { c.FanoutMaxConcurrency = 1 }, "FanoutMaxConcurrency 1: must be 2-1000"},
		{"concurrency 1001", func(c *Config) { c.FanoutMaxConcurrency = 1001 }, "FanoutMaxConcurrency 1001: must be 2-1000"},
		{"receives 1001", func(c *Config) { c.FanoutMaxReceives = 1001 }, "FanoutMaxReceives 1001: must be 1-1000"},
		{"batch 11", func(c *Config) { c.FanoutBatchSize = 11 }, "FanoutBatchSize 11: must be 1-10"},
		{"timeout 16m", func(c *Config) { c.FanoutTimeout = 16 * time.Minute }, "FanoutTimeout 16m0s: must be whole seconds from 1s to 15m"},
		{"timeout fraction", func(c *Config) { c.FanoutTimeout = 1500 * time.Millisecond }, "FanoutTimeout 1.5s: must be whole seconds"},
		{"dlq shorter than the queue", func(c *Config) { c.FanoutDLQRetention = 24 * time.Hour }, "FanoutDLQRetention 24h0m0s: must be whole seconds from 96h0m0s"},
		{"dlq over 14 days", func(c *Config) { c.FanoutDLQRetention = 15 * 24 * time.Hour }, "FanoutDLQRetention 360h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Environments()["prod"]
			tc.change(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want it to report %q", err, tc.want)
			}
		})
	}
	// All problems at once, as for every other setting.
	cfg := Environments()["dev"]
	cfg.FanoutThreshold, cfg.FanoutMaxConcurrency = -1, 1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "FanoutThreshold -1") || !strings.Contains(err.Error(), "FanoutMaxConcurrency 1") {
		t.Errorf("Validate() = %v, want both the threshold and the concurrency reported", err)
	}
	for name, cfg := range Environments() {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if w := wantFanout[name]; cfg.FanoutThreshold != w.threshold || cfg.FanoutMaxConcurrency != w.concurrency ||
			cfg.FanoutMaxReceives != 5 || cfg.FanoutDLQRetention != 14*24*time.Hour {
			t.Errorf("%s: fan-out threshold %d, concurrency %d, receives %d, dead-letter retention %v; want %d, %d, 5, 336h",
				name, cfg.FanoutThreshold, cfg.FanoutMaxConcurrency, cfg.FanoutMaxReceives, cfg.FanoutDLQRetention, w.threshold, w.concurrency)
		}
	}
}
