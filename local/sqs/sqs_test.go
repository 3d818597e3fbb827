package sqs_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wschat/wschat/local/sqs"
)

// start serves a broker with a task queue (visibility 30 s, redrive to a DLQ
// after 3 receives) and returns the real SDK client pointed at it.
func start(t *testing.T) (*awssqs.Client, *sqs.Handler) {
	t.Helper()
	b := sqs.NewBroker(nil)
	for _, q := range []sqs.QueueConfig{
		{Name: "dlq"},
		{Name: "tasks", VisibilityTimeout: 30 * time.Second, DeadLetterQueue: "dlq", MaxReceiveCount: 3},
	} {
		if err := b.AddQueue(q); err != nil {
			t.Fatal(err)
		}
	}
	h := &sqs.Handler{Broker: b}
	srv := httptest.NewServer(h) // 127.0.0.1
	t.Cleanup(srv.Close)
	h.Base = srv.URL
	c := awssqs.New(awssqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	return c, h
}

func TestSendReceiveDeleteWithTheSDK(t *testing.T) {
	ctx := t.Context()
	c, h := start(t)
	url, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("tasks")})
	if err != nil || *url.QueueUrl != h.QueueURL("tasks") {
		t.Fatalf("GetQueueUrl = %v, %v; want %s", url, err, h.QueueURL("tasks"))
	}
	q := url.QueueUrl
	// The SDK checks each MD5 we return against the body it sent/got.
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q, MessageBody: aws.String(`{"shard":3}`)}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	got, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q, MaxNumberOfMessages: 10})
	if err != nil || len(got.Messages) != 1 || *got.Messages[0].Body != `{"shard":3}` {
		t.Fatalf("ReceiveMessage = %+v, %v; want the one message", got, err)
	}
	m := got.Messages[0]
	if m.Attributes["ApproximateReceiveCount"] != "1" {
		t.Errorf("receive count = %q, want 1", m.Attributes["ApproximateReceiveCount"])
	}
	// In flight: invisible to a second receiver.
	again, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q})
	if err != nil || len(again.Messages) != 0 {
		t.Errorf("second ReceiveMessage = %d messages, %v; want none while in flight", len(again.Messages), err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "1" || attrs.Attributes["ApproximateNumberOfMessages"] != "0" ||
		!strings.Contains(attrs.Attributes["RedrivePolicy"], `"maxReceiveCount":3`) {
		t.Errorf("GetQueueAttributes = %v, %v; want 1 in flight, 0 visible, the redrive policy", attrs.Attributes, err)
	}
	if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: q, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	attrs, _ = c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q})
	if attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("after delete: %v in flight, want 0", attrs.Attributes["ApproximateNumberOfMessagesNotVisible"])
	}
}

func TestVisibilityAndRedriveToTheDeadLetterQueue(t *testing.T) {
	ctx := t.Context()
	c, h := start(t)
	q := aws.String(h.QueueURL("tasks"))
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q, MessageBody: aws.String("poison")}); err != nil {
		t.Fatal(err)
	}
	// A consumer that fails: receive, then give the message back at once
	// (as a failed batch item whose visibility is reset).
	for i := 1; i <= 3; i++ {
		got, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q})
		if err != nil || len(got.Messages) != 1 {
			t.Fatalf("receive %d = %d messages, %v; want the message", i, len(got.Messages), err)
		}
		if n := got.Messages[0].Attributes["ApproximateReceiveCount"]; n != fmt.Sprint(i) {
			t.Errorf("receive %d: count %s", i, n)
		}
		if _, err := c.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: q, ReceiptHandle: got.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			t.Fatalf("ChangeMessageVisibility: %v", err)
		}
	}
	got, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q})
	if err != nil || len(got.Messages) != 0 {
		t.Fatalf("4th receive = %d messages, %v; want none: the message moved after 3 receives", len(got.Messages), err)
	}
	dead, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(h.QueueURL("dlq"))})
	if err != nil || len(dead.Messages) != 1 || *dead.Messages[0].Body != "poison" {
		t.Fatalf("DLQ receive = %+v, %v; want the poison message", dead.Messages, err)
	}
}

func TestBatches(t *testing.T) {
	ctx := t.Context()
	c, h := start(t)
	q := aws.String(h.QueueURL("tasks"))
	entries := func(n int, id func(int) string) []types.SendMessageBatchRequestEntry {
		var es []types.SendMessageBatchRequestEntry
		for i := range n {
			es = append(es, types.SendMessageBatchRequestEntry{Id: aws.String(id(i)), MessageBody: aws.String(fmt.Sprintf("task %d", i))})
		}
		return es
	}
	out, err := c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: q, Entries: entries(10, func(i int) string { return fmt.Sprint(i) })})
	if err != nil || len(out.Successful) != 10 || len(out.Failed) != 0 {
		t.Fatalf("SendMessageBatch(10) = %+v, %v; want 10 successful", out, err)
	}
	var tooMany *types.TooManyEntriesInBatchRequest
	if _, err := c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: q, Entries: entries(11, func(i int) string { return fmt.Sprint(i) })}); !errors.As(err, &tooMany) {
		t.Errorf("SendMessageBatch(11) error = %v, want TooManyEntriesInBatchRequest", err)
	}
	var notDistinct *types.BatchEntryIdsNotDistinct
	if _, err := c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: q, Entries: entries(2, func(int) string { return "same" })}); !errors.As(err, &notDistinct) {
		t.Errorf("SendMessageBatch(duplicate ids) error = %v, want BatchEntryIdsNotDistinct", err)
	}

	got, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q, MaxNumberOfMessages: 10})
	if err != nil || len(got.Messages) != 10 {
		t.Fatalf("ReceiveMessage(10) = %d, %v", len(got.Messages), err)
	}
	var del []types.DeleteMessageBatchRequestEntry
	for i, m := range got.Messages {
		del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
	}
	del[9].ReceiptHandle = aws.String("not-a-handle")
	dout, err := c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: q, Entries: del})
	if err != nil || len(dout.Successful) != 9 || len(dout.Failed) != 1 || *dout.Failed[0].Code != "ReceiptHandleIsInvalid" {
		t.Fatalf("DeleteMessageBatch = %+v, %v; want 9 deleted, 1 failed ReceiptHandleIsInvalid", dout, err)
	}
}

func TestLongPollReturnsWhenAMessageArrives(t *testing.T) {
	ctx := t.Context()
	c, h := start(t)
	q := aws.String(h.QueueURL("tasks"))
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, _ = c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q, MessageBody: aws.String("late")})
	}()
	start := time.Now()
	got, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q, WaitTimeSeconds: 5})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("long poll = %d messages, %v; want the late message", len(got.Messages), err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("long poll took %v, want it to return soon after the send", d)
	}
	empty, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q, WaitTimeSeconds: 1})
	if err != nil || len(empty.Messages) != 0 {
		t.Errorf("empty long poll = %d, %v; want none after ~1 s", len(empty.Messages), err)
	}
}

func TestBadInputGetsAClearError(t *testing.T) {
	ctx := t.Context()
	c, h := start(t)
	var missing *types.QueueDoesNotExist
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(h.QueueURL("nope")), MessageBody: aws.String("x")}); !errors.As(err, &missing) {
		t.Errorf("SendMessage to an unknown queue: %v, want QueueDoesNotExist", err)
	}
	if _, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(h.QueueURL("tasks")), MaxNumberOfMessages: 11}); err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Errorf("ReceiveMessage(11): %v, want InvalidParameterValue", err)
	}
	if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(h.QueueURL("tasks")), ReceiptHandle: aws.String("x")}); err == nil || !strings.Contains(err.Error(), "ReceiptHandleIsInvalid") {
		t.Errorf("DeleteMessage(bad handle): %v, want ReceiptHandleIsInvalid", err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(h.QueueURL("tasks")), MessageBody: aws.String(strings.Repeat("x", sqs.MaxBodyBytes+1))}); err == nil {
		t.Error("SendMessage over 256 KB succeeded")
	}

	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct{ target, body, wantType string }{
		{"AmazonSQS.SendMessage", "not json", "InvalidParameterValue"},
		{"AmazonSQS.PurgeQueue", "{}", "InvalidAction"},
		{"", "{}", "InvalidAction"},
		{"AmazonSQS.SendMessage", `{"QueueUrl":"http://x/000000000000/"}`, "InvalidParameterValue"},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(tc.body))
		req.Header.Set("X-Amz-Target", tc.target)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(buf[:n]), `"__type":"`+tc.wantType+`"`) {
			t.Errorf("%s %q = %d %s, want 400 %s", tc.target, tc.body, resp.StatusCode, buf[:n], tc.wantType)
		}
	}
}

func TestAddQueueRejectsBadConfig(t *testing.T) {
	b := sqs.NewBroker(nil)
	tests := []struct {
		name string
		cfg  sqs.QueueConfig
	}{
		{"no name", sqs.QueueConfig{}},
		{"unknown DLQ", sqs.QueueConfig{Name: "a", DeadLetterQueue: "missing", MaxReceiveCount: 3}},
		{"DLQ without count", sqs.QueueConfig{Name: "b", DeadLetterQueue: "ok"}},
		{"visibility too long", sqs.QueueConfig{Name: "c", VisibilityTimeout: 13 * time.Hour}},
	}
	if err := b.AddQueue(sqs.QueueConfig{Name: "ok"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if err := b.AddQueue(tt.cfg); err == nil {
			t.Errorf("%s: AddQueue(%+v) = nil, want an error", tt.name, tt.cfg)
		}
	}
	if err := b.AddQueue(sqs.QueueConfig{Name: "ok"}); err == nil {
		t.Error("AddQueue(ok) twice = nil, want an error")
	}
}

func TestUpdateQueueKeepsMessagesAndRetentionDrops(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := sqs.NewBroker(func() time.Time { return now })
	if err := b.AddQueue(sqs.QueueConfig{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Send("q", "old", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateQueue(sqs.QueueConfig{Name: "q", Retention: time.Minute, VisibilityTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if visible, _, _, _ := b.Depth("q"); visible != 1 {
		t.Fatalf("after UpdateQueue: %d visible, want the message kept", visible)
	}
	if err := b.UpdateQueue(sqs.QueueConfig{Name: "q", DeadLetterQueue: "q", MaxReceiveCount: 1}); err == nil {
		t.Error("UpdateQueue with itself as DLQ = nil error")
	}
	if err := b.UpdateQueue(sqs.QueueConfig{Name: "missing"}); err == nil {
		t.Error("UpdateQueue of an undeclared queue = nil error")
	}
	now = now.Add(2 * time.Minute)
	if _, err := b.Send("q", "new", 0); err != nil {
		t.Fatal(err)
	}
	got, err := b.Receive(t.Context(), "q", 10, 0, 0)
	if err != nil || len(got) != 1 || got[0].Body != "new" {
		t.Fatalf("Receive = %+v, %v; want only the new message (the old one is past its 60 s retention)", got, err)
	}
}

func TestUnemulatedSendsAndQueueDefaultsWithTheSDK(t *testing.T) {
	ctx := t.Context()
	c, h := start(t)
	if err := h.Broker.AddQueue(sqs.QueueConfig{Name: "waits", ReceiveWait: time.Second}); err != nil {
		t.Fatal(err)
	}
	q := aws.String(h.QueueURL("tasks"))
	_, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q, MessageBody: aws.String("x"),
		MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("String"), StringValue: aws.String("b")}}})
	if err == nil || !strings.Contains(err.Error(), "message attributes are not emulated") {
		t.Errorf("SendMessage with attributes: %v, want a refusal", err)
	}
	begin := time.Now()
	got, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(h.QueueURL("waits"))})
	if d := time.Since(begin); err != nil || len(got.Messages) != 0 || d < 900*time.Millisecond {
		t.Errorf("ReceiveMessage without WaitTimeSeconds on a 1 s queue: %d messages, %v after %v; want an empty 1 s long poll", len(got.Messages), err, d)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q, MessageBody: aws.String("y")}); err != nil {
		t.Fatal(err)
	}
	got, err = c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q})
	if err != nil || len(got.Messages) != 1 || got.Messages[0].Attributes["SenderId"] != sqs.SenderID {
		t.Errorf("ReceiveMessage = %+v, %v; want one message with SenderId %s", got.Messages, err, sqs.SenderID)
	}
}
