package template

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// queueOpts are opts with a local SQS server.
var queueOpts = func() Options { o := opts; o.SQSEndpoint = "127.0.0.1:9324"; return o }()

func queue(t *testing.T, s *Stack, id string) *Queue {
	t.Helper()
	for _, q := range s.Queues {
		if q.LogicalID == id {
			return q
		}
	}
	t.Fatalf("no queue %s", id)
	return nil
}

func TestParseQueuesAndMappings(t *testing.T) {
	s, err := Load("testdata/queues.template.json", queueOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings %v, want none (QueuePolicy and encryption have no local meaning)", s.Warnings)
	}
	dlq, tasks, named := queue(t, s, "FanoutDeadLetterQueue9F8E7D6C"), queue(t, s, "FanoutQueue1A2B3C4D"), queue(t, s, "NamedQueue")
	if s.Queues[0] != dlq || len(s.Queues) != 3 {
		t.Errorf("queues %v: want 3, the dead-letter queue first", s.Queues)
	}
	want := Queue{LogicalID: "FanoutQueue1A2B3C4D", Name: "FanoutQueue1A2B3C4D",
		URL: "http://127.0.0.1:9324/000000000000/FanoutQueue1A2B3C4D", ARN: "arn:aws:sqs:eu-west-1:000000000000:FanoutQueue1A2B3C4D",
		VisibilityTimeout: time.Minute, Retention: 4 * 24 * time.Hour, ReceiveWait: 20 * time.Second, DeadLetterQueue: dlq, MaxReceiveCount: 5}
	if *tasks != want {
		t.Errorf("tasks queue = %+v\nwant %+v", *tasks, want)
	}
	if dlq.VisibilityTimeout != 30*time.Second || dlq.Retention != 14*24*time.Hour || dlq.DeadLetterQueue != nil {
		t.Errorf("dead-letter queue = %+v, want the defaults and 14 days", *dlq)
	}
	// QueueName, and a RedrivePolicy given as a JSON string with a literal ARN.
	if named.Name != "named-queue" || named.DeadLetterQueue != dlq || named.MaxReceiveCount != 2 {
		t.Errorf("named queue = %+v", *named)
	}

	chat := function(t, s, "ChatFunction")
	for k, v := range map[string]string{
		"WSCHAT_FANOUT_QUEUE_URL": tasks.URL,
		"QUEUE_ARN":               tasks.ARN,
		"QUEUE_NAME":              "FanoutQueue1A2B3C4D",
		"DLQ_URL":                 "http://127.0.0.1:9324/000000000000/FanoutDeadLetterQueue9F8E7D6C",
	} {
		if chat.Env[k] != v {
			t.Errorf("ChatFunction env %s = %q, want %q", k, chat.Env[k], v)
		}
	}

	fanout := function(t, s, "FanoutFunction5E6F7A8B")
	if len(s.Mappings) != 2 {
		t.Fatalf("mappings = %v, want 2", s.Mappings)
	}
	m, off := s.Mappings[0], s.Mappings[1]
	wantM := EventSourceMapping{LogicalID: "FanoutFunctionSqsEventSource0A1B2C3D", Queue: tasks, Function: fanout, BatchSize: 5,
		ReportBatchItemFailures: true, MaximumConcurrency: 4, BatchingWindow: time.Second, Enabled: true}
	if *m != wantM {
		t.Errorf("mapping = %+v\nwant %+v", *m, wantM)
	}
	wantOff := EventSourceMapping{LogicalID: "NamedQueueMapping", Queue: named, Function: fanout, BatchSize: 10}
	if *off != wantOff {
		t.Errorf("disabled mapping (function by GetAtt Arn, defaults) = %+v\nwant %+v", *off, wantOff)
	}
}

// TestQueueURLNeedsAnEndpoint: without an SQS endpoint a queue's Ref has no
// local value, and says so, rather than resolving to a URL nothing serves.
func TestQueueURLNeedsAnEndpoint(t *testing.T) {
	s, err := Load("testdata/queues.template.json", opts)
	if err != nil {
		t.Fatal(err)
	}
	chat := function(t, s, "ChatFunction")
	if err := chat.EnvErrors["WSCHAT_FANOUT_QUEUE_URL"]; err == nil || !strings.Contains(err.Error(), "no local SQS server") {
		t.Errorf("queue URL without an endpoint: %v, want an error", err)
	}
	if chat.Env["QUEUE_ARN"] == "" {
		t.Error("the ARN does not need the endpoint, yet did not resolve")
	}
}

// TestTemplateWithoutQueues: nothing changes for a template without queues.
func TestTemplateWithoutQueues(t *testing.T) {
	s := load(t)
	if len(s.Queues) != 0 || len(s.Mappings) != 0 {
		t.Errorf("queues %v, mappings %v; want none", s.Queues, s.Mappings)
	}
}

func mutateQueues(t *testing.T, edit func(res map[string]any)) error {
	t.Helper()
	data, err := os.ReadFile("testdata/queues.template.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc["Resources"].(map[string]any))
	data, _ = json.Marshal(doc)
	_, err = Parse(data, "testdata", queueOpts)
	return err
}

func TestQueueAndMappingErrors(t *testing.T) {
	const q, m = "FanoutQueue1A2B3C4D", "FanoutFunctionSqsEventSource0A1B2C3D"
	set := func(id, prop string, v any) func(map[string]any) {
		return func(r map[string]any) { props(r, id)[prop] = v }
	}
	for _, tc := range []struct {
		name, resource, property, problem string
		edit                              func(map[string]any)
	}{
		{"FIFO", q, "FifoQueue", "FIFO queues are not emulated", set(q, "FifoQueue", true)},
		{"FIFO name", q, "QueueName", "FIFO queues are not emulated", set(q, "QueueName", "tasks.fifo")},
		{"FIFO-only property", q, "ContentBasedDeduplication", "FIFO queues are not emulated", set(q, "ContentBasedDeduplication", true)},
		{"queue delay", q, "DelaySeconds", "a queue-wide delay is not emulated", set(q, "DelaySeconds", 5)},
		{"message size", q, "MaximumMessageSize", "only the default 262144 bytes", set(q, "MaximumMessageSize", 1024)},
		{"unknown property", q, "Bogus", "not emulated", set(q, "Bogus", 1)},
		{"visibility range", q, "VisibilityTimeout", "outside 0-43200", set(q, "VisibilityTimeout", 50000)},
		{"bad name", q, "QueueName", "is not a queue name", set(q, "QueueName", "a b")},
		{"DLQ elsewhere", q, "RedrivePolicy.deadLetterTargetArn", "is not a queue of this template",
			set(q, "RedrivePolicy", map[string]any{"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:1:other", "maxReceiveCount": 3})},
		{"receive count", q, "RedrivePolicy.maxReceiveCount", "want a whole number 1-1000",
			set(q, "RedrivePolicy", map[string]any{"deadLetterTargetArn": map[string]any{"Fn::GetAtt": []any{"NamedQueue", "Arn"}}, "maxReceiveCount": 0})},
		{"DLQ cycle", "FanoutDeadLetterQueue9F8E7D6C", "RedrivePolicy", "cycle",
			set("FanoutDeadLetterQueue9F8E7D6C", "RedrivePolicy", map[string]any{"deadLetterTargetArn": map[string]any{"Fn::GetAtt": []any{q, "Arn"}}, "maxReceiveCount": 3})},
		{"filter", m, "FilterCriteria", "event filtering is not emulated", set(m, "FilterCriteria", map[string]any{})},
		{"stream property", m, "StartingPosition", "only SQS queues", set(m, "StartingPosition", "LATEST")},
		{"stream of a table without one", m, "EventSourceArn", "the table has no StreamSpecification", set(m, "EventSourceArn", map[string]any{"Fn::GetAtt": []any{"Table", "StreamArn"}})},
		{"function elsewhere", m, "FunctionName", `function "other" is not defined`, set(m, "FunctionName", "arn:aws:lambda:eu-west-1:1:function:other:live")},
		{"response type", m, "FunctionResponseTypes", "only ReportBatchItemFailures", set(m, "FunctionResponseTypes", []any{"Other"})},
		{"concurrency", m, "ScalingConfig.MaximumConcurrency", "outside 2-1000", set(m, "ScalingConfig", map[string]any{"MaximumConcurrency": 1})},
		{"enabled as number", m, "Enabled", "want a boolean, found a number", set(m, "Enabled", 1)},
		{"condition", m, "Condition", "conditional resources", func(r map[string]any) { r[m].(map[string]any)["Condition"] = "IsProd" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mutateQueues(t, tc.edit)
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

func TestLargeBatchIsAWarning(t *testing.T) {
	data, _ := os.ReadFile("testdata/queues.template.json")
	var doc map[string]any
	_ = json.Unmarshal(data, &doc)
	props(doc["Resources"].(map[string]any), "FanoutFunctionSqsEventSource0A1B2C3D")["BatchSize"] = 100
	data, _ = json.Marshal(doc)
	s, err := Parse(data, "testdata", queueOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "BatchSize 100: batches of at most 10 locally") || s.Mappings[0].BatchSize != 100 {
		t.Errorf("warnings %v, batch size %d; want one warning and the template's 100", s.Warnings, s.Mappings[0].BatchSize)
	}
}
