package template

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wschat/wschat/internal/eventpattern"
)

// EventBus is an AWS::Events::EventBus, or the account's default bus.
type EventBus struct {
	LogicalID string // "" for the default bus
	Name      string
	ARN       string
}

// Rule is an AWS::Events::Rule with an event pattern (schedules are not
// emulated) on a bus, and its targets.
type Rule struct {
	LogicalID string
	Name      string
	ARN       string
	Bus       *EventBus
	// Pattern is the EventPattern as JSON (checked to parse).
	Pattern json.RawMessage
	Enabled bool
	Targets []*RuleTarget
}

// RuleTarget is one of a rule's Targets: a function or a queue of the
// template, with what the rule sends it.
type RuleTarget struct {
	ID       string
	Function *Function // a Lambda target (invoked asynchronously)
	Queue    *Queue    // an SQS target
	// Input replaces the event with this JSON text; InputPath sends the
	// part of the event at this JSON path; InputTransformer builds the input
	// from a template. At most one is set.
	Input            *string
	InputPath        string
	InputTransformer *InputTransformer
	// MaxRetries and MaxEventAge are the RetryPolicy (185 and 24 h unless set).
	MaxRetries  int
	MaxEventAge time.Duration
	// DeadLetterQueue gets the events the target could not take; nil: none.
	DeadLetterQueue *Queue
}

// InputTransformer is a target's InputTransformer.
type InputTransformer struct {
	PathsMap map[string]string // variable → JSON path ($.detail.x)
	Template string
}

// Secret is an AWS::SecretsManager::Secret: its literal SecretString, or
// the GenerateSecretString settings the emulator generates a value from.
type Secret struct {
	LogicalID string
	Name      string
	ARN       string // what its Ref gives
	Value     string // SecretString; "" when generated
	Generate  *GenerateSecretString
}

// GenerateSecretString is what CloudFormation generates a secret from.
type GenerateSecretString struct {
	PasswordLength          int
	ExcludeCharacters       string
	ExcludeLowercase        bool
	ExcludeNumbers          bool
	ExcludePunctuation      bool
	ExcludeUppercase        bool
	IncludeSpace            bool
	RequireEachIncludedType bool
	SecretStringTemplate    string
	GenerateStringKey       string
}

// StreamMapping is an AWS::Lambda::EventSourceMapping from a table's
// stream (DynamoDB Streams).
type StreamMapping struct {
	LogicalID string
	Table     *Table
	Function  *Function
	// BatchSize is 100 unless set.
	BatchSize      int
	BatchingWindow time.Duration
	// TrimHorizon is StartingPosition TRIM_HORIZON (else LATEST).
	TrimHorizon bool
	// Filters are FilterCriteria.Filters[].Pattern, each checked to parse.
	Filters                 []string
	BisectOnError           bool
	MaxRetries              int           // -1 (until the records expire) unless set
	MaxRecordAge            time.Duration // 0 (until the records expire) unless set
	ReportBatchItemFailures bool
	// OnFailure is DestinationConfig.OnFailure, a queue of the template.
	OnFailure *Queue
	Enabled   bool
}

// defaultBus is the account's default event bus, which rules without an
// EventBusName are on.
func (p *parser) defaultBus() *EventBus {
	return &EventBus{Name: "default", ARN: "arn:aws:events:" + p.opts.Region + ":" + p.opts.AccountID + ":event-bus/default"}
}

// parseEventBuses reads the template's buses; the default bus always exists.
func (p *parser) parseEventBuses() error {
	p.buses = map[string]*EventBus{}
	p.stack.EventBuses = []*EventBus{p.defaultBus()}
	for _, id := range p.ids("AWS::Events::EventBus") {
		f := p.props(id)
		for _, prop := range []string{"EventSourceName"} {
			if _, ok := f.raw(prop); ok {
				return f.fail(prop, "partner event buses are not emulated")
			}
		}
		name, err := f.str("Name")
		if err != nil {
			return err
		}
		if name == "" {
			return f.fail("Name", "missing")
		}
		b := &EventBus{LogicalID: id, Name: name, ARN: "arn:aws:events:" + p.opts.Region + ":" + p.opts.AccountID + ":event-bus/" + name}
		p.buses[id] = b
		p.stack.EventBuses = append(p.stack.EventBuses, b)
	}
	return nil
}

// busByName finds a bus by name or ARN.
func (p *parser) busByName(s string) *EventBus {
	for _, b := range p.stack.EventBuses {
		if b.Name == s || b.ARN == s {
			return b
		}
	}
	return nil
}

var ruleProps = map[string]string{
	"Name": "", "Description": "", "EventBusName": "", "EventPattern": "", "State": "", "Targets": "", "RoleArn": "",
}

// parseRuleNames reads each rule's name, bus and ARN before the functions,
// whose environment may name a rule; parseRules reads the rest after them.
func (p *parser) parseRuleNames() error {
	p.rules = map[string]*Rule{}
	for _, id := range p.ids("AWS::Events::Rule") {
		f := p.props(id)
		if isSchedule(f) {
			continue // parseSchedules (schedule.go)
		}
		for _, prop := range slices.Sorted(maps.Keys(f.m)) {
			problem, known := ruleProps[prop]
			if !known {
				return f.fail(prop, "not emulated")
			}
			if problem != "" {
				return f.fail(prop, problem)
			}
		}
		r := &Rule{LogicalID: id, Name: id, Enabled: true, Bus: p.stack.EventBuses[0]}
		name, err := f.str("Name")
		if err != nil {
			return err
		}
		if name != "" {
			r.Name = name
		}
		if v, ok := f.value("EventBusName"); ok {
			s, err := p.resolve(v)
			if err != nil {
				return f.fail("EventBusName", err.Error())
			}
			if r.Bus = p.busByName(s); r.Bus == nil {
				return f.fail("EventBusName", fmt.Sprintf("%q is not a bus of this template (nor the default bus)", s))
			}
		}
		r.ARN = "arn:aws:events:" + p.opts.Region + ":" + p.opts.AccountID + ":rule/" + r.Name
		if r.Bus.Name != "default" {
			r.ARN = "arn:aws:events:" + p.opts.Region + ":" + p.opts.AccountID + ":rule/" + r.Bus.Name + "/" + r.Name
		}
		p.rules[id] = r
	}
	return nil
}

func (p *parser) parseRules() error {
	for _, id := range p.ids("AWS::Events::Rule") {
		r, ok := p.rules[id]
		if !ok {
			continue // a schedule
		}
		if err := p.ruleSettings(p.props(id), r); err != nil {
			return err
		}
		p.stack.Rules = append(p.stack.Rules, r)
	}
	return nil
}

func (p *parser) ruleSettings(f fields, r *Rule) error {
	pattern, ok := f.raw("EventPattern")
	if !ok {
		return f.fail("EventPattern", "missing: a rule needs an EventPattern or a ScheduleExpression")
	}
	if s, err := f.str("EventPattern"); err == nil && s != "" {
		pattern = json.RawMessage(s) // the older form: a JSON string
	}
	if _, err := eventpattern.Parse(pattern); err != nil {
		return f.fail("EventPattern", err.Error())
	}
	r.Pattern = pattern
	enabled, err := f.enabled()
	if err != nil {
		return err
	}
	r.Enabled = enabled
	return p.ruleTargets(f, r)
}

type rawTarget struct {
	Arn              any
	Id               string
	Input            *string
	InputPath        string
	InputTransformer *struct {
		InputPathsMap map[string]string
		InputTemplate string
	}
	RetryPolicy *struct {
		MaximumRetryAttempts     *int
		MaximumEventAgeInSeconds *int
	}
	DeadLetterConfig *struct{ Arn any }
	RoleArn          any
	// Kinds of target the emulator refuses by name.
	HttpParameters, EcsParameters, BatchParameters, KinesisParameters, SqsParameters, RunCommandParameters,
	SageMakerPipelineParameters, RedshiftDataParameters, AppSyncParameters json.RawMessage
}

func (p *parser) ruleTargets(f fields, r *Rule) error {
	raw, ok := f.raw("Targets")
	if !ok {
		return nil
	}
	var targets []rawTarget
	if err := json.Unmarshal(raw, &targets); err != nil {
		return f.fail("Targets", "malformed: "+err.Error())
	}
	for i, rt := range targets {
		where := fmt.Sprintf("Targets[%d]", i)
		if rt.SqsParameters != nil {
			return f.fail(where+".SqsParameters", "FIFO queue targets are not emulated")
		}
		for name, v := range map[string]json.RawMessage{"HttpParameters": rt.HttpParameters, "EcsParameters": rt.EcsParameters,
			"BatchParameters": rt.BatchParameters, "KinesisParameters": rt.KinesisParameters, "RunCommandParameters": rt.RunCommandParameters,
			"SageMakerPipelineParameters": rt.SageMakerPipelineParameters, "RedshiftDataParameters": rt.RedshiftDataParameters, "AppSyncParameters": rt.AppSyncParameters} {
			if v != nil {
				return f.fail(where+"."+name, "only Lambda functions and SQS queues of this template are emulated as targets")
			}
		}
		t, err := p.ruleTarget(f, where, rt)
		if err != nil {
			return err
		}
		r.Targets = append(r.Targets, t)
	}
	return nil
}

func (p *parser) ruleTarget(f fields, where string, rt rawTarget) (*RuleTarget, error) {
	arn, err := p.resolve(rt.Arn)
	if err != nil {
		return nil, f.fail(where+".Arn", err.Error())
	}
	t := &RuleTarget{ID: rt.Id, Input: rt.Input, InputPath: rt.InputPath, MaxRetries: 185, MaxEventAge: 24 * time.Hour}
	if t.Function, t.Queue = p.functionNamed(arn), p.queueByARN(arn); t.Function == nil && t.Queue == nil {
		return nil, f.fail(where+".Arn", fmt.Sprintf("%q is not a function or queue of this template; only those are emulated as targets", arn))
	}
	set := 0
	if rt.Input != nil {
		set++
		if !json.Valid([]byte(*rt.Input)) {
			return nil, f.fail(where+".Input", "not valid JSON")
		}
	}
	if rt.InputPath != "" {
		set++
	}
	if it := rt.InputTransformer; it != nil {
		set++
		if it.InputTemplate == "" {
			return nil, f.fail(where+".InputTransformer.InputTemplate", "missing")
		}
		t.InputTransformer = &InputTransformer{PathsMap: it.InputPathsMap, Template: it.InputTemplate}
	}
	if set > 1 {
		return nil, f.fail(where, "Input, InputPath and InputTransformer exclude each other")
	}
	if rp := rt.RetryPolicy; rp != nil {
		if n := rp.MaximumRetryAttempts; n != nil {
			if *n < 0 || *n > 185 {
				return nil, f.fail(where+".RetryPolicy.MaximumRetryAttempts", fmt.Sprintf("%d outside 0-185", *n))
			}
			t.MaxRetries = *n
		}
		if s := rp.MaximumEventAgeInSeconds; s != nil {
			if *s < 60 || *s > 86400 {
				return nil, f.fail(where+".RetryPolicy.MaximumEventAgeInSeconds", fmt.Sprintf("%d outside 60-86400", *s))
			}
			t.MaxEventAge = time.Duration(*s) * time.Second
		}
	}
	if dl := rt.DeadLetterConfig; dl != nil {
		dlq, err := p.resolve(dl.Arn)
		if err != nil {
			return nil, f.fail(where+".DeadLetterConfig.Arn", err.Error())
		}
		if t.DeadLetterQueue = p.queueByARN(dlq); t.DeadLetterQueue == nil {
			return nil, f.fail(where+".DeadLetterConfig.Arn", fmt.Sprintf("%q is not a queue of this template", dlq))
		}
	}
	return t, nil
}

func (p *parser) functionNamed(arn string) *Function {
	name := arn
	if _, after, ok := strings.Cut(arn, ":function:"); ok {
		name, _, _ = strings.Cut(after, ":")
	}
	for _, f := range p.functions {
		if f.ARN == arn || f.Name == name {
			return f
		}
	}
	return nil
}

func (p *parser) queueByARN(arn string) *Queue {
	for _, q := range p.queues {
		if q.ARN == arn {
			return q
		}
	}
	return nil
}

var secretProps = map[string]string{
	"Name": "", "Description": "", "SecretString": "", "GenerateSecretString": "", "KmsKeyId": "", "Tags": "", "ReplicaRegions": "",
}

func (p *parser) parseSecrets() error {
	p.secrets = map[string]*Secret{}
	for _, id := range p.ids("AWS::SecretsManager::Secret") {
		f := p.props(id)
		for _, prop := range slices.Sorted(maps.Keys(f.m)) {
			if _, known := secretProps[prop]; !known {
				return f.fail(prop, "not emulated")
			}
		}
		s := &Secret{LogicalID: id, Name: id}
		name, err := f.str("Name")
		if err != nil {
			return err
		}
		if name != "" {
			s.Name = name
		}
		// Secrets Manager adds 6 random characters to a secret's ARN; a
		// stable local stand-in keeps ARNs the same across runs.
		s.ARN = "arn:aws:secretsmanager:" + p.opts.Region + ":" + p.opts.AccountID + ":secret:" + s.Name + "-" + localID(id)[:6]
		if s.Value, err = f.str("SecretString"); err != nil {
			return err
		}
		if raw, ok := f.raw("GenerateSecretString"); ok {
			if s.Value != "" {
				return f.fail("GenerateSecretString", "SecretString and GenerateSecretString exclude each other")
			}
			s.Generate = &GenerateSecretString{}
			if err := json.Unmarshal(raw, s.Generate); err != nil {
				return f.fail("GenerateSecretString", "malformed: "+err.Error())
			}
		}
		if s.Value == "" && s.Generate == nil {
			s.Generate = &GenerateSecretString{} // CloudFormation generates a value then too
		}
		p.secrets[id] = s
		p.stack.Secrets = append(p.stack.Secrets, s)
	}
	return nil
}

// streamOnlyProps are the properties of a stream mapping the emulator reads
// (with mappingProps' common ones).
var streamMappingProps = map[string]string{
	"EventSourceArn": "", "FunctionName": "", "BatchSize": "", "FunctionResponseTypes": "", "Enabled": "", "Tags": "",
	"MaximumBatchingWindowInSeconds": "", "StartingPosition": "", "FilterCriteria": "", "BisectBatchOnFunctionError": "",
	"MaximumRetryAttempts": "", "MaximumRecordAgeInSeconds": "", "DestinationConfig": "", "ParallelizationFactor": "",
	"KmsKeyArn": "", "MetricsConfig": "",
	"StartingPositionTimestamp": "AT_TIMESTAMP is for Kinesis; DynamoDB streams start at LATEST or TRIM_HORIZON",
	"TumblingWindowInSeconds":   "tumbling windows are not emulated",
	"ScalingConfig":             "ScalingConfig is for SQS sources",
}

// parseStreamMapping reads a mapping whose source is table's stream.
func (p *parser) parseStreamMapping(f fields, table *Table) error {
	for _, prop := range slices.Sorted(maps.Keys(f.m)) {
		problem, known := streamMappingProps[prop]
		if !known {
			return f.fail(prop, "not emulated for a stream source")
		}
		if problem != "" {
			return f.fail(prop, problem)
		}
	}
	if table.StreamViewType == "" {
		return f.fail("EventSourceArn", fmt.Sprintf("table %s has no StreamSpecification", table.LogicalID))
	}
	m := &StreamMapping{LogicalID: f.id, Table: table, BatchSize: 100, MaxRetries: -1, Enabled: true}
	var err error
	if m.Function, err = p.mappingFunction(f); err != nil {
		return err
	}
	for _, step := range []func(fields, *StreamMapping) error{p.streamBatching, p.streamFailures} {
		if err := step(f, m); err != nil {
			return err
		}
	}
	p.stack.StreamMappings = append(p.stack.StreamMappings, m)
	return nil
}

func (p *parser) streamBatching(f fields, m *StreamMapping) error {
	if n, ok, err := f.number("BatchSize"); err != nil {
		return err
	} else if ok && (n < 1 || n > 10000) {
		return f.fail("BatchSize", fmt.Sprintf("%d outside 1-10000", n))
	} else if ok {
		m.BatchSize = n
	}
	if n, ok, err := f.number("MaximumBatchingWindowInSeconds"); err != nil {
		return err
	} else if ok && (n < 0 || n > 300) {
		return f.fail("MaximumBatchingWindowInSeconds", fmt.Sprintf("%d outside 0-300", n))
	} else if ok {
		m.BatchingWindow = time.Duration(n) * time.Second
	}
	pos, err := f.str("StartingPosition")
	if err != nil {
		return err
	}
	switch pos {
	case "LATEST":
	case "TRIM_HORIZON":
		m.TrimHorizon = true
	default:
		return f.fail("StartingPosition", fmt.Sprintf("%q: want LATEST or TRIM_HORIZON (required for a stream)", pos))
	}
	if n, ok, err := f.number("ParallelizationFactor"); err != nil {
		return err
	} else if ok && n > 1 {
		p.stack.Warnings = append(p.stack.Warnings, fmt.Sprintf("%s (AWS::Lambda::EventSourceMapping) ParallelizationFactor %d: one batch at a time locally (one shard, stream order)", f.id, n))
	}
	if raw, ok := f.raw("FilterCriteria"); ok {
		var fc struct{ Filters []struct{ Pattern string } }
		if err := json.Unmarshal(raw, &fc); err != nil {
			return f.fail("FilterCriteria", "want {Filters: [{Pattern: a JSON string}]}")
		}
		for i, flt := range fc.Filters {
			if _, err := eventpattern.Parse([]byte(flt.Pattern)); err != nil {
				return f.fail(fmt.Sprintf("FilterCriteria.Filters[%d].Pattern", i), err.Error())
			}
			m.Filters = append(m.Filters, flt.Pattern)
		}
	}
	enabled, err := f.boolean("Enabled")
	if _, set := f.raw("Enabled"); set {
		m.Enabled = enabled
	}
	return err
}

func (p *parser) streamFailures(f fields, m *StreamMapping) error {
	var err error
	if m.BisectOnError, err = f.boolean("BisectBatchOnFunctionError"); err != nil {
		return err
	}
	if n, ok, err := f.number("MaximumRetryAttempts"); err != nil {
		return err
	} else if ok && (n < -1 || n > 10000) {
		return f.fail("MaximumRetryAttempts", fmt.Sprintf("%d outside -1-10000", n))
	} else if ok {
		m.MaxRetries = n
	}
	if n, ok, err := f.number("MaximumRecordAgeInSeconds"); err != nil {
		return err
	} else if ok && n != -1 && (n < 60 || n > 604800) {
		return f.fail("MaximumRecordAgeInSeconds", fmt.Sprintf("%d: want -1 or 60-604800", n))
	} else if ok && n > 0 {
		m.MaxRecordAge = time.Duration(n) * time.Second
	}
	rbif, err := f.reportBatchItemFailures()
	if err != nil {
		return err
	}
	m.ReportBatchItemFailures = rbif
	if v, ok := f.value("DestinationConfig"); ok {
		dc, _ := v.(map[string]any)
		of, _ := dc["OnFailure"].(map[string]any)
		dest, ok := of["Destination"]
		if !ok {
			return f.fail("DestinationConfig", "want {OnFailure: {Destination: a queue's ARN}}")
		}
		arn, err := p.resolve(dest)
		if err != nil {
			return f.fail("DestinationConfig.OnFailure.Destination", err.Error())
		}
		if m.OnFailure = p.queueByARN(arn); m.OnFailure == nil {
			return f.fail("DestinationConfig.OnFailure.Destination", fmt.Sprintf("%q is not a queue of this template; only SQS destinations are emulated", arn))
		}
	}
	return nil
}

// mappingFunction resolves a mapping's FunctionName.
func (p *parser) mappingFunction(f fields) (*Function, error) {
	target, ok := f.value("FunctionName")
	if !ok {
		return nil, f.fail("FunctionName", "missing")
	}
	name, err := p.resolve(target)
	if err != nil {
		return nil, f.fail("FunctionName", err.Error())
	}
	if fn := p.functionNamed(name); fn != nil {
		return fn, nil
	}
	return nil, f.fail("FunctionName", fmt.Sprintf("function %q is not defined in this template", name))
}

// tableByStreamARN finds the table whose StreamArn is arn.
func (p *parser) tableByStreamARN(arn string) *Table {
	for _, t := range p.tables {
		if t.StreamARN != "" && t.StreamARN == arn {
			return t
		}
	}
	return nil
}
