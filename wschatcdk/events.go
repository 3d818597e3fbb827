package wschatcdk

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wire/events"
)

// EventsProps turns on events out (docs/events.md): every stored change
// (messages and their edits, deletions and reactions, memberships,
// channels, connections, notices) becomes an EventBridge event, read from
// the table's stream by the events function, and webhooks deliver them
// to HTTP endpoints, signed.
type EventsProps struct {
	// Bus is the event bus the events are put on, or BusARN an existing
	// bus's ARN (set one at most). Default: a bus of the layer's own
	// (Chat.EventBus()).
	Bus    awsevents.IEventBus
	BusARN string
	// Source is the events' source. Default: "wschat".
	Source string
	// IncludeText puts message and notice text in events; without it an
	// event carries the text's length only. Default: false.
	IncludeText bool
	// BatchSize is the most stream records one events invocation gets.
	// Default: 100.
	BatchSize int
	// MaxRetries is how many times the stream mapping retries a failing
	// batch (bisecting it) before it records the batch in the events
	// dead-letter queue. Default: 10.
	MaxRetries int
	// DLQRetention is how long the events and webhooks dead-letter queues
	// keep what they hold. Default: 14 days.
	DLQRetention time.Duration
	// Webhooks are the HTTP endpoints that get the events, each with a
	// signing secret. Default: none.
	Webhooks []WebhookProps
}

// WebhookProps is one webhook: a rule on the bus sends the events it wants
// to the webhooks queue, and the webhooks function POSTs each to URL,
// signed with the secret (Standard Webhooks).
type WebhookProps struct {
	// Name identifies the webhook (1-64 letters, digits, '-' or '_').
	// Required.
	Name string
	// URL is where the events go: https, or http to a loopback address
	// (for local receivers). Required.
	URL string
	// DetailTypes are the detail-types it gets. Default: every one
	// (events.Types).
	DetailTypes []string
	// Secret (or SecretARN) holds the signing secret. Default: a generated
	// secret of the layer's own (Chat.WebhookSecret(Name)).
	Secret    awssecretsmanager.ISecret
	SecretARN string
}

// BeforeSendProps names the before-send hook: a Lambda function the team
// owns that the chat function asks about every message and edit before
// storing it (allow, reject, replace the text).
type BeforeSendProps struct {
	// Function is the hook, or FunctionARN its ARN (a hook in another
	// account needs its owner to allow the chat function's role). One is
	// required.
	Function    awslambda.IFunction
	FunctionARN string
	// Timeout is the hook's time budget, 1 ms to 10 s. Default: 300 ms.
	Timeout time.Duration
	// FailClosed refuses a message (code unavailable, which clients retry)
	// when the hook fails or is late; otherwise it is stored as sent.
	// Default: false (fail open).
	FailClosed bool
}

// Webhooks' and events' fixed settings.
const (
	// WebhooksTimeout is the webhooks function's timeout: a batch of
	// WebhooksBatchSize deliveries of at most 10 s each.
	WebhooksTimeout   = time.Minute
	WebhooksBatchSize = 5
	// WebhooksMaxReceives is how many times a delivery is tried before the
	// webhooks queue moves it to its dead-letter queue.
	WebhooksMaxReceives = 5
	// EventsTimeout is the events function's timeout.
	EventsTimeout = time.Minute
	// EventsIteratorAgeAlarm is how far the events may fall behind the
	// stream before the alarm fires.
	EventsIteratorAgeAlarm = time.Minute
)

var (
	webhookNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	sourcePattern      = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,256}$`)
	busARNPattern      = regexp.MustCompile(`^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+$`)
	secretARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$`)
	functionARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?$`)
)

// withEventsDefaults fills the integrations' unset props.
func (p ChatProps) withEventsDefaults() ChatProps {
	if p.Events != nil {
		e := *p.Events
		setString(&e.Source, events.DefaultSource)
		setInt(&e.BatchSize, 100)
		setInt(&e.MaxRetries, 10)
		setDuration(&e.DLQRetention, 14*24*time.Hour)
		e.Webhooks = slices.Clone(e.Webhooks)
		for i := range e.Webhooks {
			if len(e.Webhooks[i].DetailTypes) == 0 {
				e.Webhooks[i].DetailTypes = slices.Clone(events.Types)
			}
		}
		p.Events = &e
	}
	if p.BeforeSend != nil {
		b := *p.BeforeSend
		setDuration(&b.Timeout, 300*time.Millisecond)
		p.BeforeSend = &b
	}
	return p
}

// validateEvents checks the integrations' props.
func (p ChatProps) validateEvents() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if e := p.Events; e != nil {
		if e.Bus != nil && e.BusARN != "" {
			bad("Events.Bus, Events.BusARN: set one at most")
		}
		if e.BusARN != "" && !busARNPattern.MatchString(e.BusARN) {
			bad("Events.BusARN %q: not an EventBridge event bus ARN", e.BusARN)
		}
		if !sourcePattern.MatchString(e.Source) || strings.HasPrefix(e.Source, "aws.") {
			bad("Events.Source %q: want 1-256 letters, digits or . _ / - (not aws.*, reserved by AWS)", e.Source)
		}
		if e.BatchSize < 1 || e.BatchSize > 10000 {
			bad("Events.BatchSize %d: must be 1-10000 (a DynamoDB stream event source)", e.BatchSize)
		}
		if e.MaxRetries < 1 || e.MaxRetries > 10000 {
			bad("Events.MaxRetries %d: must be 1-10000 (the stream mapping's MaximumRetryAttempts)", e.MaxRetries)
		}
		if d := e.DLQRetention; d < time.Minute || d > 14*24*time.Hour || d%time.Second != 0 {
			bad("Events.DLQRetention %v: must be whole seconds from 1m to 336h (SQS's limits)", d)
		}
		seen := map[string]bool{}
		for i, w := range e.Webhooks {
			errs = append(errs, w.validate(i, seen)...)
		}
	}
	if b := p.BeforeSend; b != nil {
		if (b.Function == nil) == (b.FunctionARN == "") {
			bad("BeforeSend: set exactly one of Function and FunctionARN")
		}
		if b.FunctionARN != "" && !functionARNPattern.MatchString(b.FunctionARN) {
			bad("BeforeSend.FunctionARN %q: not a Lambda function ARN", b.FunctionARN)
		}
		if b.Timeout < time.Millisecond || b.Timeout > 10*time.Second || b.Timeout > p.Timeout {
			bad("BeforeSend.Timeout %v: must be 1ms to 10s and within the functions' Timeout (%v)", b.Timeout, p.Timeout)
		}
	}
	return errs
}

func (w WebhookProps) validate(i int, seen map[string]bool) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Events.Webhooks[%d] (%q): "+format, append([]any{i, w.Name}, args...)...))
	}
	if !webhookNamePattern.MatchString(w.Name) {
		bad("Name: want 1-64 letters, digits, '-' or '_'")
	} else if seen[w.Name] {
		bad("Name: used twice")
	}
	seen[w.Name] = true
	u, err := url.Parse(w.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		bad("URL %q: want an https URL", w.URL)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		bad("URL %q: plain http only to a loopback address; use https", w.URL)
	}
	for _, t := range w.DetailTypes {
		if !slices.Contains(events.Types, t) {
			bad("DetailTypes: %q is not a detail-type (want one of %v)", t, events.Types)
		}
	}
	if w.Secret != nil && w.SecretARN != "" {
		bad("Secret, SecretARN: set one at most")
	}
	if w.SecretARN != "" && !secretARNPattern.MatchString(w.SecretARN) {
		bad("SecretARN %q: not a Secrets Manager secret ARN", w.SecretARN)
	}
	return errs
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// integrations is what addEvents and addBeforeSend define.
type integrations struct {
	Bus             awsevents.IEventBus
	Events          *goFunction
	EventsMapping   awslambda.EventSourceMapping
	DeadLetters     awssqs.Queue
	Webhooks        *goFunction // nil without webhooks
	WebhooksQueue   awssqs.Queue
	WebhooksMapping awslambda.EventSourceMapping
	WebhooksDLQ     awssqs.Queue
	WebhookSecrets  map[string]awssecretsmanager.ISecret
	Rules           map[string]awsevents.Rule
	// generated are the webhook secrets the layer made.
	generated    []awssecretsmanager.Secret
	hookFunction awslambda.IFunction
}

// sqsQueue is an encrypted queue that refuses plain HTTP, with the
// environment's removal policy (as the fan-out queues).
func sqsQueue(scope constructs.Construct, id string, retain bool, p awssqs.QueueProps) awssqs.Queue {
	p.Encryption = awssqs.QueueEncryption_SQS_MANAGED
	p.EnforceSSL = jsii.Bool(true)
	p.RemovalPolicy = removalPolicy(retain)
	return awssqs.NewQueue(scope, jsii.String(id), &p)
}

func seconds(d time.Duration) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(d.Seconds()))
}

// addEvents defines the events function behind the table's stream, the bus
// (unless given), the events DLQ and the webhooks. It needs the runtime
// environment and the publish function.
func (s *layer) addEvents(retention awslogs.RetentionDays) {
	cfg := s.Config
	e := cfg.Events
	if e == nil {
		return
	}
	c := constructs.NewConstruct(s.scope, jsii.String("Events"))
	in := &integrations{Bus: e.Bus, WebhookSecrets: map[string]awssecretsmanager.ISecret{}, Rules: map[string]awsevents.Rule{}}
	s.Integrations = in
	switch {
	case e.BusARN != "":
		in.Bus = awsevents.EventBus_FromEventBusArn(c, jsii.String("Bus"), jsii.String(e.BusARN))
	case in.Bus == nil:
		in.Bus = awsevents.NewEventBus(c, jsii.String("Bus"), nil)
	}
	in.Events = newGoFunction(s.scope, "EventsFunction", goFunctionProps{
		Build: s.build, Package: lambdasPackage + "/" + contract.FunctionEvents, Name: contract.FunctionEvents,
		Description: "Puts one EventBridge event per stored change, read from the table's stream",
		MemoryMB:    cfg.MemoryMB, Timeout: EventsTimeout, Tracing: cfg.Tracing, LogRetention: retention, Retain: cfg.retain(),
		Environment: map[string]string{contract.EnvLogLevel: "info", contract.EnvEventSource: e.Source,
			contract.EnvEventsText: fmt.Sprint(e.IncludeText)},
	})
	fn := in.Events.Function
	fn.AddEnvironment(jsii.String(contract.EnvEventBus), in.Bus.EventBusArn(), nil)
	for _, v := range []string{contract.EnvTableName, contract.EnvMetricsNamespace} {
		fn.AddEnvironment(jsii.String(v), s.runtimeEnv[v], nil)
	}
	in.Bus.GrantPutEventsTo(in.Events.Role, nil)
	// The stream (the mapping's poller uses the function's role), and the
	// one GetItem that names a lifecycle change (dynamo.ResolveApplied).
	// (Table.GrantStreamRead would add ListStreams on '*'; the mapping
	// names its stream, so its ARN is enough.)
	in.Events.Function.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"),
		Resources: &[]*string{s.Table.TableStreamArn()},
	}))
	s.Table.Grant(in.Events.Role, jsii.String("dynamodb:GetItem"))
	in.DeadLetters = sqsQueue(c, "DeadLetters", cfg.retain(), awssqs.QueueProps{RetentionPeriod: seconds(e.DLQRetention)})
	var filters []*map[string]any
	for _, f := range contract.EventStreamFilters {
		var m map[string]any
		if err := json.Unmarshal([]byte(f), &m); err != nil {
			panic(fmt.Errorf("wschatcdk: contract.EventStreamFilters: %w", err)) // a test parses them all
		}
		filters = append(filters, awslambda.FilterCriteria_Filter(&m))
	}
	// TRIM_HORIZON: a change written before the mapping's first poll (the
	// stack's first deployment) is not skipped. Bisection isolates a record
	// that fails; the on-failure queue keeps the batch's stream positions.
	in.EventsMapping = fn.AddEventSourceMapping(jsii.String("TableStream"), &awslambda.EventSourceMappingOptions{
		EventSourceArn:          s.Table.TableStreamArn(),
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(float64(e.BatchSize)),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(float64(e.MaxRetries)),
		ReportBatchItemFailures: jsii.Bool(true),
		Filters:                 &filters,
		OnFailure:               awslambdaeventsources.NewSqsDlq(in.DeadLetters),
	})
	// A notice is stored only for its event (the publish function may
	// already PutItem).
	s.Publish.Function.AddEnvironment(jsii.String(contract.EnvNoticeRecords), jsii.String("true"), nil)
	if len(e.Webhooks) > 0 {
		s.addWebhooks(c, retention)
	}
}

// addWebhooks defines the webhooks queue, its DLQ, the webhooks function,
// and per webhook its secret and its rule.
func (s *layer) addWebhooks(c constructs.Construct, retention awslogs.RetentionDays) {
	cfg, in := s.Config, s.Integrations
	in.WebhooksDLQ = sqsQueue(c, "WebhookDeadLetters", cfg.retain(), awssqs.QueueProps{RetentionPeriod: seconds(cfg.Events.DLQRetention)})
	in.WebhooksQueue = sqsQueue(c, "WebhookDeliveries", cfg.retain(), awssqs.QueueProps{
		VisibilityTimeout: seconds(FanoutVisibilityFactor * WebhooksTimeout),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: in.WebhooksDLQ, MaxReceiveCount: jsii.Number(WebhooksMaxReceives)},
	})
	in.Webhooks = newGoFunction(s.scope, "WebhooksFunction", goFunctionProps{
		Build: s.build, Package: lambdasPackage + "/" + contract.FunctionWebhooks, Name: contract.FunctionWebhooks,
		Description: "POSTs events to the webhooks, signed",
		MemoryMB:    cfg.MemoryMB, Timeout: WebhooksTimeout, Tracing: cfg.Tracing, LogRetention: retention, Retain: cfg.retain(),
		Environment: map[string]string{contract.EnvLogLevel: "info"},
	})
	in.Webhooks.Function.AddEnvironment(jsii.String(contract.EnvMetricsNamespace), s.runtimeEnv[contract.EnvMetricsNamespace], nil)
	targets := map[string]any{}
	for _, w := range cfg.Events.Webhooks {
		secret := w.Secret
		switch {
		case w.SecretARN != "":
			secret = awssecretsmanager.Secret_FromSecretCompleteArn(c, jsii.String("Secret-"+w.Name), jsii.String(w.SecretARN))
		case secret == nil:
			own := awssecretsmanager.NewSecret(c, jsii.String("Secret-"+w.Name), &awssecretsmanager.SecretProps{
				Description: jsii.String("Signs the " + w.Name + " webhook's requests (Standard Webhooks; docs/events.md)"),
				GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
					PasswordLength: jsii.Number(32), ExcludePunctuation: jsii.Bool(true),
				},
				RemovalPolicy: removalPolicy(cfg.retain()),
			})
			in.generated = append(in.generated, own)
			secret = own
		}
		in.WebhookSecrets[w.Name] = secret
		in.Webhooks.Function.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: &[]*string{secret.SecretArn()},
		}))
		if key := secret.EncryptionKey(); key != nil {
			key.GrantDecrypt(in.Webhooks.Role)
		}
		targets[w.Name] = map[string]any{"url": w.URL, "secretArn": secret.SecretArn()}
		in.Rules[w.Name] = s.webhookRule(c, w)
	}
	in.Webhooks.Function.AddEnvironment(jsii.String(contract.EnvWebhooks), awscdk.Stack_Of(c).ToJsonString(targets, nil), nil)
	in.WebhooksMapping = in.Webhooks.Function.AddEventSourceMapping(jsii.String("Deliveries"), &awslambda.EventSourceMappingOptions{
		EventSourceArn:          in.WebhooksQueue.QueueArn(),
		BatchSize:               jsii.Number(WebhooksBatchSize),
		ReportBatchItemFailures: jsii.Bool(true),
	})
	in.WebhooksQueue.Grant(in.Webhooks.Role, jsii.String("sqs:ReceiveMessage"), jsii.String("sqs:DeleteMessage"),
		jsii.String("sqs:GetQueueAttributes"), jsii.String("sqs:ChangeMessageVisibility"))
}

// webhookRule is w's rule: its events to the webhooks queue, wrapped as
// {"webhook": name, "event": <the event>} (an input transformer).
func (s *layer) webhookRule(c constructs.Construct, w WebhookProps) awsevents.Rule {
	in := s.Integrations
	rule := awsevents.NewRule(c, jsii.String("Webhook-"+w.Name), &awsevents.RuleProps{
		EventBus:    in.Bus,
		Description: jsii.String("Events for the " + w.Name + " webhook"),
		EventPattern: &awsevents.EventPattern{
			Source: jsii.Strings(s.Config.Events.Source), DetailType: jsii.Strings(w.DetailTypes...),
		},
	})
	rule.AddTarget(awseventstargets.NewSqsQueue(in.WebhooksQueue, &awseventstargets.SqsQueueProps{
		DeadLetterQueue: in.WebhooksDLQ,
		RetryAttempts:   jsii.Number(185),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(24)),
	}))
	// CDK's RuleTargetInput quotes what it is given; the whole event
	// (aws.events.event.json) goes in unquoted.
	name, _ := json.Marshal(w.Name)
	rule.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("Targets.0.InputTransformer"), map[string]any{
		"InputTemplate": `{"webhook":` + string(name) + `,"event":<aws.events.event.json>}`,
	})
	return rule
}

// addBeforeSend makes the chat function ask the hook before it stores a
// message or an edit.
func (s *layer) addBeforeSend() {
	b := s.Config.BeforeSend
	if b == nil {
		return
	}
	fn := b.Function
	if fn == nil {
		fn = awslambda.Function_FromFunctionArn(s.scope, jsii.String("BeforeSendHook"), jsii.String(b.FunctionARN))
	}
	if s.Integrations == nil {
		s.Integrations = &integrations{}
	}
	s.Integrations.hookFunction = fn
	failure := "open"
	if b.FailClosed {
		failure = "closed"
	}
	chatFn := s.Chat.Function
	chatFn.AddEnvironment(jsii.String(contract.EnvHookFunction), fn.FunctionArn(), nil)
	chatFn.AddEnvironment(jsii.String(contract.EnvHookTimeout), jsii.String(b.Timeout.String()), nil)
	chatFn.AddEnvironment(jsii.String(contract.EnvHookFailure), jsii.String(failure), nil)
	// An identity policy on that function ARN only (a qualified ARN, an
	// alias or version, is its own resource): a hook in another account
	// also needs its owner's resource policy.
	s.Chat.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{fn.FunctionArn()},
	}))
}

// addEventsAlarms adds the integrations' alarms to the layer's: anything in
// either dead-letter queue, events a minute behind the stream, and the two
// functions' errors and throttles.
func (s *layer) addEventsAlarms() {
	in := s.Integrations
	if in == nil || in.Events == nil {
		return
	}
	m := s.Monitoring
	action := awscloudwatchactions.NewSnsAction(m.Topic)
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	maxOf := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: minute}
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}
	type alarmDef struct {
		id, description string
		metric          awscloudwatch.IMetric
		threshold       float64
	}
	defs := []alarmDef{
		{"EventsDeadLetters", "Stream batches failed every retry and sit in the events dead-letter queue: their events never reached the bus.",
			in.DeadLetters.MetricApproximateNumberOfMessagesVisible(maxOf), 0},
		{"EventsIteratorAge", fmt.Sprintf("The events function is over %v behind the table's stream.", EventsIteratorAgeAlarm),
			awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("AWS/Lambda"), MetricName: jsii.String("IteratorAge"),
				DimensionsMap: &map[string]*string{"FunctionName": in.Events.Function.FunctionName()}, Statistic: jsii.String("Maximum"), Period: minute}),
			float64(EventsIteratorAgeAlarm.Milliseconds())},
		{"eventsErrors", "The events function failed invocations (the stream mapping retries them).", in.Events.Function.MetricErrors(sum), 0},
		{"eventsThrottles", "The events function was throttled: Lambda concurrency is exhausted.", in.Events.Function.MetricThrottles(sum), 0},
	}
	if in.Webhooks != nil {
		defs = append(defs,
			alarmDef{"WebhooksDeadLetters", "Webhook deliveries failed every try and sit in the webhooks dead-letter queue.",
				in.WebhooksDLQ.MetricApproximateNumberOfMessagesVisible(maxOf), 0},
			alarmDef{"webhooksErrors", "The webhooks function failed invocations.", in.Webhooks.Function.MetricErrors(sum), 0},
			alarmDef{"webhooksThrottles", "The webhooks function was throttled: Lambda concurrency is exhausted.", in.Webhooks.Function.MetricThrottles(sum), 0})
	}
	for _, d := range defs {
		a := awscloudwatch.NewAlarm(m.Construct, jsii.String(d.id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(d.description),
			Metric:             d.metric,
			Threshold:          jsii.Number(d.threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		m.Alarms = append(m.Alarms, a)
	}
}

// addEventsNagSuppressions records the accepted findings on the
// integrations' resources.
func addEventsNagSuppressions(s *layer) {
	in := s.Integrations
	if in == nil || in.Events == nil {
		return
	}
	suppressFunction(s, in.Events, "Lambda's stream poller invokes this function synchronously; a batch that fails every retry is recorded in "+
		"the mapping's on-failure destination (the events dead-letter queue), and the EventsDeadLetters alarm fires.")
	dlqReason := "This is a dead-letter queue: nothing consumes it, so no message is received again and again for a redrive policy to catch. " +
		"Its messages wait for an operator (EventsProps.DLQRetention), and its alarm fires on the first."
	suppress(defaultChild(in.DeadLetters), suppression{id: "Serverless-SQSRedrivePolicy", reason: dlqReason}, suppression{
		id: "AwsSolutions-SQS3",
		reason: "This queue is the dead-letter queue of the events function's stream mapping (its on-failure destination), which cdk-nag " +
			"does not recognise as a dead-letter queue, as it does a redrive policy's.",
	})
	if in.WebhooksDLQ != nil {
		suppress(defaultChild(in.WebhooksDLQ), suppression{id: "Serverless-SQSRedrivePolicy", reason: dlqReason})
	}
	if in.Webhooks != nil {
		suppressFunction(s, in.Webhooks, "Lambda's SQS poller invokes this function synchronously; a delivery that keeps failing moves to the "+
			"webhooks dead-letter queue by the queue's redrive policy, and the WebhooksDeadLetters alarm fires.")
		suppress(defaultChild(in.WebhooksMapping), suppression{
			id: "Serverless-LambdaEventSourceMappingDestination",
			reason: "Lambda offers on-failure destinations for stream and Kafka sources only, not SQS: a delivery that keeps failing moves to the " +
				"webhooks dead-letter queue by the queue's redrive policy, and the WebhooksDeadLetters alarm fires.",
		})
		for _, sec := range in.generated {
			suppress(defaultChild(sec), suppression{
				id: "AwsSolutions-SMG4",
				reason: "A webhook's signing secret is shared with the receiver, which verifies with it; rotating it means telling the receiver, " +
					"which Standard Webhooks supports (several signatures per request) but no rotation Lambda can do on its own.",
			})
		}
	}
}
