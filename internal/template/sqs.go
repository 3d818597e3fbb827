package template

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Queue is an AWS::SQS::Queue: a standard queue, served by the emulator's
// SQS server.
type Queue struct {
	LogicalID string
	// Name is QueueName, else the logical id (CloudFormation would generate
	// one from the stack and logical id).
	Name string
	// URL is http://<Options.SQSEndpoint>/<account>/<Name>, what a Ref gives;
	// "" when the options name no SQS endpoint.
	URL string
	ARN string
	// VisibilityTimeout is 30 s unless set.
	VisibilityTimeout time.Duration
	// Retention is MessageRetentionPeriod, 4 days unless set.
	Retention time.Duration
	// ReceiveWait is ReceiveMessageWaitTimeSeconds.
	ReceiveWait time.Duration
	// DeadLetterQueue and MaxReceiveCount are the RedrivePolicy; nil: none.
	DeadLetterQueue *Queue
	MaxReceiveCount int
}

// EventSourceMapping is an AWS::Lambda::EventSourceMapping whose source is a
// queue of the template.
type EventSourceMapping struct {
	LogicalID string
	Queue     *Queue
	Function  *Function
	// BatchSize is 10 unless set; the emulator delivers at most 10 at once.
	BatchSize int
	// ReportBatchItemFailures is FunctionResponseTypes [ReportBatchItemFailures].
	ReportBatchItemFailures bool
	// MaximumConcurrency is ScalingConfig.MaximumConcurrency; 0 when unset.
	MaximumConcurrency int
	// BatchingWindow is MaximumBatchingWindowInSeconds (not applied locally:
	// a batch is delivered as soon as messages are there).
	BatchingWindow time.Duration
	Enabled        bool
}

// queueProps says what each AWS::SQS::Queue property does locally: "" for
// read (or without local meaning), else why it is refused.
var queueProps = map[string]string{
	"QueueName": "", "VisibilityTimeout": "", "MessageRetentionPeriod": "", "RedrivePolicy": "",
	"ReceiveMessageWaitTimeSeconds": "", "DelaySeconds": "", "MaximumMessageSize": "", "FifoQueue": "",
	// Encryption at rest, tags and who may use the queue as a DLQ have no
	// local meaning.
	"KmsMasterKeyId": "", "KmsDataKeyReusePeriodSeconds": "", "SqsManagedSseEnabled": "", "Tags": "", "RedriveAllowPolicy": "",
	"ContentBasedDeduplication": "FIFO queues are not emulated",
	"DeduplicationScope":        "FIFO queues are not emulated",
	"FifoThroughputLimit":       "FIFO queues are not emulated",
}

var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// parseQueues reads the queues in two passes: names first, so a
// RedrivePolicy can name its dead-letter queue by GetAtt Arn.
func (p *parser) parseQueues() error {
	p.queues = map[string]*Queue{}
	ids := p.ids("AWS::SQS::Queue")
	for _, id := range ids {
		q, err := p.queueName(id)
		if err != nil {
			return err
		}
		p.queues[id] = q
	}
	for _, id := range ids {
		if err := p.queueSettings(id, p.queues[id]); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := p.redrivePolicy(id, p.queues[id]); err != nil {
			return err
		}
	}
	order, err := deadLettersFirst(ids, p.queues)
	p.stack.Queues = order
	return err
}

func (p *parser) queueName(id string) (*Queue, error) {
	f := p.props(id)
	for _, prop := range slices.Sorted(maps.Keys(f.m)) {
		problem, known := queueProps[prop]
		switch {
		case !known:
			return nil, f.fail(prop, "not emulated (the emulator reads "+strings.Join(slices.Sorted(maps.Keys(queueProps)), ", ")+")")
		case problem != "":
			return nil, f.fail(prop, problem)
		}
	}
	q := &Queue{LogicalID: id, Name: id}
	name, err := f.str("QueueName")
	if err != nil {
		return nil, err
	}
	if name != "" {
		q.Name = name
	}
	if strings.HasSuffix(q.Name, ".fifo") {
		return nil, f.fail("QueueName", "FIFO queues are not emulated")
	}
	if !queueNamePattern.MatchString(q.Name) {
		return nil, f.fail("QueueName", fmt.Sprintf("%q is not a queue name (1-80 letters, digits, - and _)", q.Name))
	}
	q.ARN = "arn:aws:sqs:" + p.opts.Region + ":" + p.opts.AccountID + ":" + q.Name
	if p.opts.SQSEndpoint != "" {
		q.URL = "http://" + p.opts.SQSEndpoint + "/" + p.opts.AccountID + "/" + q.Name
	}
	return q, nil
}

// queueSettings reads the timings and refuses what would behave otherwise.
func (p *parser) queueSettings(id string, q *Queue) error {
	f := p.props(id)
	if fifo, err := f.boolean("FifoQueue"); err != nil {
		return err
	} else if fifo {
		return f.fail("FifoQueue", "FIFO queues are not emulated")
	}
	durations := []struct {
		prop     string
		min, max int
		into     *time.Duration
		dflt     time.Duration
	}{
		{"VisibilityTimeout", 0, 43200, &q.VisibilityTimeout, 30 * time.Second},
		{"MessageRetentionPeriod", 60, 1209600, &q.Retention, 4 * 24 * time.Hour},
		{"ReceiveMessageWaitTimeSeconds", 0, 20, &q.ReceiveWait, 0},
	}
	for _, d := range durations {
		*d.into = d.dflt
		n, ok, err := f.number(d.prop)
		if err != nil {
			return err
		}
		if ok && (n < d.min || n > d.max) {
			return f.fail(d.prop, fmt.Sprintf("%d outside %d-%d seconds", n, d.min, d.max))
		}
		if ok {
			*d.into = time.Duration(n) * time.Second
		}
	}
	if n, ok, err := f.number("DelaySeconds"); err != nil {
		return err
	} else if ok && n != 0 {
		return f.fail("DelaySeconds", "a queue-wide delay is not emulated (a message's own DelaySeconds is)")
	}
	if n, ok, err := f.number("MaximumMessageSize"); err != nil {
		return err
	} else if ok && n != 262144 {
		return f.fail("MaximumMessageSize", fmt.Sprintf("%d: only the default 262144 bytes is emulated", n))
	}
	return nil
}

// redrivePolicy reads {deadLetterTargetArn, maxReceiveCount}, an object or
// (the older form) a JSON string; the target must be a queue of the template.
func (p *parser) redrivePolicy(id string, q *Queue) error {
	f := p.props(id)
	v, ok := f.value("RedrivePolicy")
	if !ok {
		return nil
	}
	if s, isString := v.(string); isString {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return f.fail("RedrivePolicy", "a string that is not a JSON object: "+err.Error())
		}
	}
	policy, isObject := v.(map[string]any)
	if !isObject {
		return f.fail("RedrivePolicy", "want an object {deadLetterTargetArn, maxReceiveCount}")
	}
	target, ok := policy["deadLetterTargetArn"]
	if !ok {
		return f.fail("RedrivePolicy.deadLetterTargetArn", "missing")
	}
	arn, err := p.resolve(target)
	if err != nil {
		return f.fail("RedrivePolicy.deadLetterTargetArn", err.Error())
	}
	for _, dlq := range p.queues {
		if dlq.ARN == arn {
			q.DeadLetterQueue = dlq
		}
	}
	if q.DeadLetterQueue == nil {
		return f.fail("RedrivePolicy.deadLetterTargetArn", fmt.Sprintf("%q is not a queue of this template", arn))
	}
	count, err := p.resolve(policy["maxReceiveCount"])
	n, convErr := strconv.Atoi(count)
	if err != nil || convErr != nil || n < 1 || n > 1000 {
		return f.fail("RedrivePolicy.maxReceiveCount", fmt.Sprintf("want a whole number 1-1000, found %v", policy["maxReceiveCount"]))
	}
	q.MaxReceiveCount = n
	return nil
}

// deadLettersFirst orders the queues so that each comes after its
// dead-letter queue (the order they must be declared in).
func deadLettersFirst(ids []string, queues map[string]*Queue) ([]*Queue, error) {
	var out []*Queue
	done := map[*Queue]bool{}
	for _, id := range ids {
		var chain []*Queue
		for q := queues[id]; q != nil && !done[q]; q = q.DeadLetterQueue {
			if slices.Contains(chain, q) {
				return nil, &Error{Resource: id, Type: "AWS::SQS::Queue", Property: "RedrivePolicy", Problem: "dead-letter queues form a cycle"}
			}
			chain = append(chain, q)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			done[chain[i]] = true
			out = append(out, chain[i])
		}
	}
	return out, nil
}

// mappingProps says what each AWS::Lambda::EventSourceMapping property does
// locally: "" for read (or without local meaning), else why it is refused.
var mappingProps = map[string]string{
	"EventSourceArn": "", "FunctionName": "", "BatchSize": "", "FunctionResponseTypes": "", "ScalingConfig": "",
	"MaximumBatchingWindowInSeconds": "", "Enabled": "", "Tags": "", "KmsKeyArn": "", "MetricsConfig": "",
	"FilterCriteria": "event filtering is not emulated: every message would reach the function",
}

// streamOnly are the properties of stream, Kafka, MQ and DocumentDB
// sources, which an SQS mapping does not take.
var streamOnly = []string{
	"StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor", "MaximumRecordAgeInSeconds",
	"MaximumRetryAttempts", "BisectBatchOnFunctionError", "TumblingWindowInSeconds", "DestinationConfig",
	"Topics", "Queues", "SourceAccessConfigurations", "SelfManagedEventSource", "AmazonManagedKafkaEventSourceConfig",
	"SelfManagedKafkaEventSourceConfig", "DocumentDBEventSourceConfig", "ProvisionedPollerConfig",
}

func (p *parser) parseMappings() error {
	for _, id := range p.ids("AWS::Lambda::EventSourceMapping") {
		f := p.props(id)
		if src, ok := f.value("EventSourceArn"); ok {
			arn, err := p.resolve(src)
			if err != nil {
				return f.fail("EventSourceArn", err.Error())
			}
			if t := p.tableByStreamARN(arn); t != nil {
				if err := p.parseStreamMapping(f, t); err != nil {
					return err
				}
				continue
			}
		}
		for _, prop := range slices.Sorted(maps.Keys(f.m)) {
			problem, known := mappingProps[prop]
			switch {
			case slices.Contains(streamOnly, prop):
				return f.fail(prop, "stream, Kafka, MQ and DocumentDB sources are not emulated; only SQS queues and DynamoDB streams of this template")
			case !known:
				return f.fail(prop, "not emulated")
			case problem != "":
				return f.fail(prop, problem)
			}
		}
		m := &EventSourceMapping{LogicalID: id, BatchSize: 10, Enabled: true}
		for _, step := range []func(fields, *EventSourceMapping) error{p.mappingEnds, p.mappingSettings} {
			if err := step(f, m); err != nil {
				return err
			}
		}
		p.stack.Mappings = append(p.stack.Mappings, m)
	}
	return nil
}

// mappingEnds finds the source queue and the target function.
func (p *parser) mappingEnds(f fields, m *EventSourceMapping) error {
	src, ok := f.value("EventSourceArn")
	if !ok {
		return f.fail("EventSourceArn", "missing")
	}
	arn, err := p.resolve(src)
	if err != nil {
		return f.fail("EventSourceArn", err.Error())
	}
	for _, q := range p.queues {
		if q.ARN == arn {
			m.Queue = q
		}
	}
	if m.Queue == nil {
		return f.fail("EventSourceArn", fmt.Sprintf("%q is not a queue or table stream of this template; only those are emulated as event sources", arn))
	}
	target, ok := f.value("FunctionName")
	if !ok {
		return f.fail("FunctionName", "missing")
	}
	name, err := p.resolve(target)
	if err != nil {
		return f.fail("FunctionName", err.Error())
	}
	if _, after, isARN := strings.Cut(name, ":function:"); isARN {
		name = after
	}
	name, _, _ = strings.Cut(name, ":") // drop a version or alias qualifier
	for _, fn := range p.functions {
		if fn.Name == name {
			m.Function = fn
		}
	}
	if m.Function == nil {
		return f.fail("FunctionName", fmt.Sprintf("function %q is not defined in this template", name))
	}
	return nil
}

// mappingSettings reads the batch, response type, concurrency and switch.
func (p *parser) mappingSettings(f fields, m *EventSourceMapping) error {
	if n, ok, err := f.number("BatchSize"); err != nil {
		return err
	} else if ok && (n < 1 || n > 10000) {
		return f.fail("BatchSize", fmt.Sprintf("%d outside 1-10000", n))
	} else if ok {
		m.BatchSize = n
	}
	if m.BatchSize > 10 {
		p.stack.Warnings = append(p.stack.Warnings, fmt.Sprintf("%s (AWS::Lambda::EventSourceMapping) BatchSize %d: batches of at most 10 locally (one ReceiveMessage)", f.id, m.BatchSize))
	}
	rbif, err := f.reportBatchItemFailures()
	if err != nil {
		return err
	}
	m.ReportBatchItemFailures = rbif
	if raw, ok := f.raw("ScalingConfig"); ok {
		var sc struct{ MaximumConcurrency *int }
		if err := json.Unmarshal(raw, &sc); err != nil {
			return f.fail("ScalingConfig", "want {MaximumConcurrency: a number}")
		}
		if sc.MaximumConcurrency != nil && (*sc.MaximumConcurrency < 2 || *sc.MaximumConcurrency > 1000) {
			return f.fail("ScalingConfig.MaximumConcurrency", fmt.Sprintf("%d outside 2-1000", *sc.MaximumConcurrency))
		}
		if sc.MaximumConcurrency != nil {
			m.MaximumConcurrency = *sc.MaximumConcurrency
		}
	}
	if n, ok, err := f.number("MaximumBatchingWindowInSeconds"); err != nil {
		return err
	} else if ok && (n < 0 || n > 300) {
		return f.fail("MaximumBatchingWindowInSeconds", fmt.Sprintf("%d outside 0-300", n))
	} else if ok {
		m.BatchingWindow = time.Duration(n) * time.Second
	}
	enabled, err := f.boolean("Enabled")
	if _, set := f.raw("Enabled"); set {
		m.Enabled = enabled
	}
	return err
}
