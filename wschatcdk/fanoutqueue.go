package wschatcdk

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// FanoutTaskRetention is how long a task waits in the queue at most (SQS's
// default, made explicit). The dead-letter queue must keep messages longer:
// a message moved there keeps its first enqueue time, so a shorter DLQ
// retention would expire it at once.
const FanoutTaskRetention = 4 * 24 * time.Hour

// FanoutVisibilityFactor is the task queue's visibility timeout over the
// fanout function's timeout: AWS advises six times the function timeout for
// an SQS event source, so that a batch retried after a throttled invocation
// is not made visible (and posted twice) while it is still being worked on.
const FanoutVisibilityFactor = 6

// withFanoutDefaults returns c with the fan-out settings it leaves unset
// at their defaults.
func (c ChatProps) withFanoutDefaults() ChatProps {
	// A channel of 2,000 is 2 tasks of ~1,000 posts; below it the sender
	// posts itself, well inside its budget and its 10-29 s timeout.
	setInt(&c.FanoutThreshold, 2000)
	// A task is one shard (~1,000 posts): seconds at most, even with
	// retries on 429s; 60 s leaves room and keeps the visibility timeout
	// (6x) at 6 minutes.
	setDuration(&c.FanoutTimeout, time.Minute)
	// One task per invocation: each gets the whole timeout, and a task's
	// receive count (hence the dead-letter queue) reflects its own
	// failures, not those of a slow neighbour in its batch.
	setInt(&c.FanoutBatchSize, 1)
	setInt(&c.FanoutMaxConcurrency, 10)
	setInt(&c.FanoutMaxReceives, 5)
	setDuration(&c.FanoutDLQRetention, 14*24*time.Hour)
	return c
}

// validateFanout checks the fan-out queue settings.
func (c ChatProps) validateFanout() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.FanoutThreshold < 1 || c.FanoutThreshold > c.SendBudget {
		bad("FanoutThreshold %d: must be 1 up to the send budget (SendBudget %d): a channel at the threshold is still posted to by the sending invocation",
			c.FanoutThreshold, c.SendBudget)
	}
	if c.FanoutTimeout < time.Second || c.FanoutTimeout > 15*time.Minute || c.FanoutTimeout%time.Second != 0 {
		bad("FanoutTimeout %v: must be whole seconds from 1s to 15m (Lambda's limit)", c.FanoutTimeout)
	}
	if c.FanoutBatchSize < 1 || c.FanoutBatchSize > 10 {
		bad("FanoutBatchSize %d: must be 1-10 (an SQS event source without a batching window)", c.FanoutBatchSize)
	}
	if c.FanoutMaxConcurrency < 2 || c.FanoutMaxConcurrency > 1000 {
		bad("FanoutMaxConcurrency %d: must be 2-1000 (the event source mapping's MaximumConcurrency)", c.FanoutMaxConcurrency)
	}
	if c.FanoutMaxReceives < 1 || c.FanoutMaxReceives > 1000 {
		bad("FanoutMaxReceives %d: must be 1-1000 (the redrive policy's maxReceiveCount)", c.FanoutMaxReceives)
	}
	if d := c.FanoutDLQRetention; d < FanoutTaskRetention || d > 14*24*time.Hour || d%time.Second != 0 {
		bad("FanoutDLQRetention %v: must be whole seconds from %v (the task queue's retention: a dead letter keeps its first enqueue time) to 336h (SQS's limit)",
			d, FanoutTaskRetention)
	}
	return errs
}

// fanoutQueueProps configures the fan-out task queue.
type fanoutQueueProps struct {
	// VisibilityTimeout hides a received task from other consumers; it must
	// exceed the consuming function's timeout.
	VisibilityTimeout time.Duration
	// MaxReceives is the tries before a task goes to the dead-letter queue.
	MaxReceives  int
	DLQRetention time.Duration
	Retain       bool
}

// fanoutQueue is the queue of fan-out tasks (one JSON fanout.Task per
// message) and the dead-letter queue where tasks land after MaxReceives
// failed tries.
type fanoutQueue struct {
	constructs.Construct
	Queue       awssqs.Queue
	DeadLetters awssqs.Queue
}

// newFanoutQueue defines both queues. Both are encrypted with SQS-managed
// keys (SSE-SQS): a task carries a chat message, so it is encrypted at rest,
// and the table's AWS-managed key gives the same data no more; a KMS key of
// our own would cost a KMS call per batch of messages and a key grant per
// role, and buy only a key policy nobody else needs. Both refuse plain HTTP.
// No physical names, as for the table. They follow the environment's removal
// policy: in prod a deleted stack keeps the dead letters for inspection.
func newFanoutQueue(scope constructs.Construct, id string, props fanoutQueueProps) *fanoutQueue {
	c := constructs.NewConstruct(scope, jsii.String(id))
	seconds := func(d time.Duration) awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(d.Seconds())) }
	dlq := awssqs.NewQueue(c, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: seconds(props.DLQRetention),
		RemovalPolicy:   removalPolicy(props.Retain),
	})
	queue := awssqs.NewQueue(c, jsii.String("Tasks"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: seconds(props.VisibilityTimeout),
		RetentionPeriod:   seconds(FanoutTaskRetention),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(float64(props.MaxReceives))},
		RemovalPolicy:     removalPolicy(props.Retain),
	})
	return &fanoutQueue{Construct: c, Queue: queue, DeadLetters: dlq}
}

// addFanout defines the fanout function, the task queue it consumes, and
// the grants on both sides: the chat and publish functions enqueue (and are
// told the queue and the threshold), the fanout function consumes. It needs
// the runtime environment, the API and the publish function.
func (s *layer) addFanout(retention awslogs.RetentionDays) {
	cfg := s.Config
	s.Fanout = newGoFunction(s.scope, "FanoutFunction", goFunctionProps{
		Build:        s.build,
		Package:      lambdasPackage + "/" + contract.FunctionFanout,
		Name:         contract.FunctionFanout,
		Description:  "Delivers a large channel's broadcast one shard at a time from the fan-out task queue",
		MemoryMB:     cfg.MemoryMB,
		Timeout:      cfg.FanoutTimeout,
		Tracing:      cfg.Tracing,
		LogRetention: retention,
		Retain:       cfg.retain(),
		Environment:  map[string]string{contract.EnvLogLevel: "info"},
	})
	// What compose.NewPusher reads: the table, the callback URL, the pool
	// size and the metrics namespace (a task has no send budget: its shard
	// is bounded by the channel's shard size).
	for _, v := range []string{contract.EnvTableName, contract.EnvCallbackURL, contract.EnvFanoutWorkers, contract.EnvMetricsNamespace} {
		s.Fanout.Function.AddEnvironment(jsii.String(v), s.runtimeEnv[v], nil)
	}
	s.FanoutQueue = newFanoutQueue(s.scope, "FanoutQueue", fanoutQueueProps{
		VisibilityTimeout: FanoutVisibilityFactor * cfg.FanoutTimeout,
		MaxReceives:       cfg.FanoutMaxReceives,
		DLQRetention:      cfg.FanoutDLQRetention,
		Retain:            cfg.retain(),
	})
	queue := s.FanoutQueue.Queue
	// The handler reports failed tasks in its response and never returns an
	// error: without ReportBatchItemFailures Lambda would delete them.
	s.FanoutMapping = s.Fanout.Function.AddEventSourceMapping(jsii.String("TaskQueue"), &awslambda.EventSourceMappingOptions{
		EventSourceArn:          queue.QueueArn(),
		BatchSize:               jsii.Number(float64(cfg.FanoutBatchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(float64(cfg.FanoutMaxConcurrency)),
	})
	// What Lambda's poller calls with the function's role (the managed
	// AWSLambdaSQSQueueExecutionRole's actions, and ChangeMessageVisibility
	// for the retry of a failed batch item); not GetQueueUrl, which it never calls.
	queue.Grant(s.Fanout.Role, jsii.String("sqs:ReceiveMessage"), jsii.String("sqs:DeleteMessage"),
		jsii.String("sqs:GetQueueAttributes"), jsii.String("sqs:ChangeMessageVisibility"))
	// RunTask reads a shard (Query); a 410 removes the connection: it reads
	// the connection and each channel's shard count (GetItem), deletes the
	// items (DeleteItem) and decrements the member count (UpdateItem ADD).
	s.Table.Grant(s.Fanout.Role, *jsii.Strings("dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem")...)
	// POST only: a gone connection is already gone, there is nothing to DELETE.
	s.API.GrantPostToConnections(s.Fanout.Role)

	// SendMessage also authorizes SendMessageBatch; the senders never read
	// the queue's attributes or look its URL up (they are told it).
	for _, f := range []*goFunction{s.Chat, s.Publish} {
		queue.Grant(f.Role, jsii.String("sqs:SendMessage"))
		f.Function.AddEnvironment(jsii.String(contract.EnvFanoutQueueURL), queue.QueueUrl(), nil)
		f.Function.AddEnvironment(jsii.String(contract.EnvFanoutThreshold), jsii.String(strconv.Itoa(cfg.FanoutThreshold)), nil)
	}
}

// addFanoutNagSuppressions records the accepted findings on the fanout
// function, for the same reasons as on the other functions.
func addFanoutNagSuppressions(s *layer) {
	suppressConnectionsGrant(s, s.Fanout, "POST", "POST")
	suppressFunction(s, s.Fanout, "Lambda's SQS poller invokes this function synchronously; a task that keeps failing goes to the task queue's own dead-letter queue "+
		"(redrive policy), while a function DLQ only receives failed asynchronous invocations, which never happen here.")
	suppress(defaultChild(s.FanoutMapping), suppression{
		id: "Serverless-LambdaEventSourceMappingDestination",
		reason: "Lambda offers on-failure destinations for stream and Kafka sources only, not SQS: a task that keeps failing moves to the " +
			"task queue's dead-letter queue by its redrive policy, and the FanoutDeadLetters alarm fires.",
	})
	suppress(defaultChild(s.FanoutQueue.DeadLetters), suppression{
		id: "Serverless-SQSRedrivePolicy",
		reason: "This is the task queue's dead-letter queue: nothing consumes it, so no message is received again and again for a redrive " +
			"policy to catch. Its tasks wait for an operator (ChatProps.FanoutDLQRetention), and the FanoutDeadLetters alarm fires on the first.",
	})
}
