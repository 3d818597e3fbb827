package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/sigv4"
	"github.com/wschat/wschat/local/gateway"
)

// queueTemplate has a task queue (visibility 1 s, to a DLQ after 3
// receives) read by the real fan-out function through an event source
// mapping with ReportBatchItemFailures, and the test function fn, which
// reports its environment.
var queueTemplate = []string{"--template", "testdata/queue.template.json", "--allow-stale"}

func readReady(t *testing.T, path string) readyDoc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ready file: %v", err)
	}
	var doc readyDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("ready file %s: %v", data, err)
	}
	return doc
}

// queueURLs maps the ready file's queues by logical id.
func queueURLs(doc readyDoc) map[string]string {
	out := map[string]string{}
	for _, q := range doc.Queues {
		out[q.LogicalID] = q.URL
	}
	return out
}

// TestQueueFanoutThroughTheEmulator sends fan-out tasks with the real SQS
// client to the emulator's SQS endpoint: a task reaches every member of its
// channel (virtual connections, through the real fanout function, dynalite
// and signed @connections posts) and is deleted; a message that is not a
// task is reported in batchItemFailures on each receive and, after the
// queue's maxReceiveCount (3), lands in the dead-letter queue.
func TestQueueFanoutThroughTheEmulator(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready.json")
	e := startEmulator(t, append([]string{"--ready-file", ready, "--virtual-connections"}, queueTemplate...)...)
	doc := readReady(t, ready)
	urls := queueURLs(doc)
	if doc.SQS == "" || len(doc.Queues) != 2 || !strings.HasPrefix(urls["Tasks"], doc.SQS+"/000000000000/") {
		t.Fatalf("ready file: sqs %q, queues %+v; want the endpoint and two queues on it", doc.SQS, doc.Queues)
	}
	// The functions see the endpoint and the template's Ref/GetAtt values.
	c := dial(t, doc.WebSocketURL, nil)
	send(t, c, `{"action":"echo","env":"AWS_ENDPOINT_URL_SQS,WSCHAT_FANOUT_QUEUE_URL,QUEUE_ARN"}`)
	env, _ := readFrame(t, c, 30*time.Second)["env"].(map[string]any)
	if env["AWS_ENDPOINT_URL_SQS"] != doc.SQS || env["WSCHAT_FANOUT_QUEUE_URL"] != urls["Tasks"] || env["QUEUE_ARN"] != "arn:aws:sqs:us-east-1:000000000000:Tasks" {
		t.Errorf("function env = %v, want the SQS endpoint, the queue's URL and ARN", env)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	ids := virtualMembers(ctx, t, doc, "general", 5)
	client := awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(doc.SQS),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	task, _ := json.Marshal(fanout.Task{Channel: "general", Shard: 0, Shards: 1, Seq: 1, Frame: []byte(`{"type":"message","channel":"general","seq":1}`)})
	for _, body := range []string{string(task), "not a task"} {
		if _, err := client.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(urls["Tasks"]), MessageBody: aws.String(body)}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}

	// Both done: the task's posts arrived and the poison is in the DLQ.
	var st gateway.VirtualStats
	var tasks, dead map[string]string
	for ctx.Err() == nil {
		st = virtualStats(t, doc.VirtualConnectionsURL)
		tasks, dead = queueAttributes(ctx, t, client, urls["Tasks"]), queueAttributes(ctx, t, client, urls["TasksDlq"])
		if st.Reached == len(ids) && tasks["ApproximateNumberOfMessages"] == "0" && tasks["ApproximateNumberOfMessagesNotVisible"] == "0" && dead["ApproximateNumberOfMessages"] == "1" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Reached != len(ids) || st.Posts != int64(len(ids)) {
		t.Errorf("virtual connections: %+v; want each of the %d members posted once (the task deleted after success)", st, len(ids))
	}
	if dead["ApproximateNumberOfMessages"] != "1" || tasks["ApproximateNumberOfMessages"] != "0" {
		t.Fatalf("tasks queue %v, DLQ %v; want the task deleted and the poison message in the DLQ", tasks, dead)
	}
	got, err := client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(urls["TasksDlq"])})
	if err != nil || len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "not a task" {
		t.Fatalf("DLQ receive = %+v, %v; want the poison message", got, err)
	}
	checkPoisonReceives(t, e.log.String())
}

// virtualMembers registers n virtual connections and makes them members of
// channel in the emulator's dynalite, as a join would.
func virtualMembers(ctx context.Context, t *testing.T, doc readyDoc, channel string, n int) []string {
	t.Helper()
	resp, err := http.DefaultClient.Do(signedAdmin(t, http.MethodPost, doc.VirtualConnectionsURL+fmt.Sprintf("?count=%d", n)))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct{ ConnectionIds []string }
	err = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if err != nil || len(reg.ConnectionIds) != n {
		t.Fatalf("register %d virtual connections: %v, %v", n, reg, err)
	}
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(doc.DynamoDB),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	store := dynamo.New(db, "Table", dynamo.Options{})
	now := time.Now()
	for i, id := range reg.ConnectionIds {
		who := chat.Identity{UserID: fmt.Sprintf("user-%d", i), UserName: fmt.Sprintf("User %d", i)}
		if err := store.PutConnection(ctx, chat.Connection{ID: id, Identity: who, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.AddMember(ctx, chat.Member{Channel: channel, ConnectionID: id, Identity: who, JoinedAt: now}, 20); err != nil {
			t.Fatal(err)
		}
	}
	return reg.ConnectionIds
}

// signedAdmin is a request to the admin endpoint, signed as it requires.
func signedAdmin(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sigv4.Sign(req, nil, sigv4.Local, "execute-api", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	return req
}

func virtualStats(t *testing.T, url string) gateway.VirtualStats {
	t.Helper()
	resp, err := http.DefaultClient.Do(signedAdmin(t, http.MethodGet, url))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st gateway.VirtualStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func queueAttributes(ctx context.Context, t *testing.T, c *awssqs.Client, url string) map[string]string {
	t.Helper()
	out, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatalf("GetQueueAttributes %s: %v", url, err)
	}
	return out.Attributes
}

// checkPoisonReceives counts, in the emulator's log, the fan-out function's
// reports of the unreadable message (one per receive), the emulator's
// failed-batch lines and its redrive line.
func checkPoisonReceives(t *testing.T, log string) {
	t.Helper()
	var receives []string
	failedBatches, redrives := 0, 0
	for _, line := range strings.Split(log, "\n") {
		switch {
		case strings.HasPrefix(line, "[fanout#") && strings.Contains(line, "fanout task unreadable"):
			var rec struct{ ReceiveCount string }
			_ = json.Unmarshal([]byte(line[strings.IndexByte(line, '{'):]), &rec)
			receives = append(receives, rec.ReceiveCount)
		case strings.HasPrefix(line, "[sqs] Tasks → fanout: 1 of"):
			failedBatches++
		case strings.HasPrefix(line, "[sqs] message ") && strings.Contains(line, "moved from Tasks to its dead-letter queue TasksDlq after 3 receives"):
			redrives++
		}
	}
	if strings.Join(receives, ",") != "1,2,3" || failedBatches != 3 || redrives != 1 {
		t.Errorf("poison message: receives %v, %d failed-batch lines, %d redrive lines; want receives 1,2,3, 3 lines, 1 redrive", receives, failedBatches, redrives)
	}
	t.Logf("poison message: received %d times (ApproximateReceiveCount %s), then moved to the DLQ", len(receives), strings.Join(receives, ","))
}

// TestInvokeFanoutWithTheSampleEvent runs the sample SQS event through
// `local invoke fanout`: a task for a channel without members succeeds and
// reports no failed item.
func TestInvokeFanoutWithTheSampleEvent(t *testing.T) {
	args := append([]string{"fanout", "--event", "testdata/events/fanout-task.json", "--issuer-key", filepath.Join(t.TempDir(), "k.pem")}, queueTemplate...)
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := runInvoke(ctx, args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("invoke fanout: %v\n%s", err, errOut.String())
	}
	if got := strings.TrimSpace(out.String()); got != `{"batchItemFailures":[]}` {
		t.Errorf("response %s, want no batch item failures\n%s", got, errOut.String())
	}
}

// TestWatchReloadKeepsQueuesAndMessages changes the template under --watch:
// an existing queue takes its new visibility and keeps its messages, a new
// queue is created, the changed mapping restarts and still delivers.
func TestWatchReloadKeepsQueuesAndMessages(t *testing.T) {
	data, err := os.ReadFile("testdata/queue.template.json")
	if err != nil {
		t.Fatal(err)
	}
	tpl := filepath.Join(t.TempDir(), "template.json")
	if err := os.WriteFile(tpl, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(t.TempDir(), "ready.json")
	e := startEmulator(t, "--template", tpl, "--allow-stale", "--watch", "--watch-interval", "100ms", "--ready-file", ready, "--virtual-connections")
	doc := readReady(t, ready)
	urls := queueURLs(doc)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	client := awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(doc.SQS),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if _, err := client.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(urls["TasksDlq"]), MessageBody: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}

	edited := strings.Replace(string(data), `"VisibilityTimeout": 1,`, `"VisibilityTimeout": 2,`, 1)
	edited = strings.Replace(edited, `"MaximumConcurrency": 2}`, `"MaximumConcurrency": 3}`, 1)
	edited = strings.Replace(edited, `"Resources": {`, `"Resources": {"Extra": {"Type": "AWS::SQS::Queue", "Properties": {}},`, 1)
	if err := os.WriteFile(tpl, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	line := e.waitLine(t, "reload:", time.Minute)
	for _, want := range []string{"new queues Extra", "mappings started FanoutMapping", "mappings stopped FanoutMapping"} {
		if !strings.Contains(line, want) {
			t.Errorf("reload line %q lacks %q", line, want)
		}
	}
	if _, err := client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("Extra")}); err != nil {
		t.Errorf("the new queue: %v", err)
	}
	if got := queueAttributes(ctx, t, client, urls["Tasks"])["VisibilityTimeout"]; got != "2" {
		t.Errorf("Tasks visibility after the reload = %s, want 2", got)
	}
	got, err := client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(urls["TasksDlq"])})
	if err != nil || len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "kept" {
		t.Errorf("DLQ after the reload = %+v, %v; want the message sent before it", got, err)
	}

	ids := virtualMembers(ctx, t, doc, "reloaded", 2)
	task, _ := json.Marshal(fanout.Task{Channel: "reloaded", Shards: 1, Frame: []byte(`{"type":"message"}`)})
	if _, err := client.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(urls["Tasks"]), MessageBody: aws.String(string(task))}); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil && virtualStats(t, doc.VirtualConnectionsURL).Reached < len(ids) {
		time.Sleep(100 * time.Millisecond)
	}
	if st := virtualStats(t, doc.VirtualConnectionsURL); st.Reached != len(ids) {
		t.Errorf("after the reload: %+v, want the task delivered to %d members by the restarted mapping", st, len(ids))
	}
}

// waitLine waits for an output line containing want.
func (e *emulator) waitLine(t *testing.T, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(e.log.String(), "\n") {
			if strings.Contains(l, want) {
				return l
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no line with %q within %s", want, within)
	return ""
}
