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

// Schedule is an AWS::Events::Rule with a ScheduleExpression: EventBridge
// invokes its targets, functions of this template, at that rate.
type Schedule struct {
	LogicalID  string
	ARN        string
	Expression string        // as written: rate(1 minute)
	Every      time.Duration // the rate
	Enabled    bool
	Targets    []ScheduleTarget
}

// ScheduleTarget is one function a schedule invokes, with the constant
// Input it is given ("" for EventBridge's scheduled event).
type ScheduleTarget struct {
	Function *Function
	Input    string
}

// scheduleProps says what each property of a scheduled AWS::Events::Rule
// (one with a ScheduleExpression) does locally: "" for read (or without
// local meaning), else why it is refused. Rules with an EventPattern are
// read by parseRules (events.go).
var scheduleProps = map[string]string{
	"Name": "", "Description": "", "ScheduleExpression": "", "State": "", "Targets": "", "RoleArn": "", "EventBusName": "",
	"EventPattern": "a rule with both a schedule and an event pattern is not emulated; use two rules",
}

// scheduleTargetProps says the same of a target's properties. RetryPolicy and
// DeadLetterConfig have no local meaning: a failed run is logged, never
// retried.
var scheduleTargetProps = map[string]string{
	"Arn": "", "Id": "", "Input": "", "RetryPolicy": "", "DeadLetterConfig": "", "RoleArn": "",
	"InputPath":        "only a constant Input is emulated",
	"InputTransformer": "only a constant Input is emulated",
}

var ratePattern = regexp.MustCompile(`^rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)$`)

// parseSchedules reads the template's scheduled rules; each must be a rate
// schedule of functions of this template.
func (p *parser) parseSchedules() error {
	for _, id := range p.ids("AWS::Events::Rule") {
		f := p.props(id)
		if !isSchedule(f) {
			continue // an event-pattern rule: parseRules
		}
		for _, prop := range slices.Sorted(maps.Keys(f.m)) {
			problem, known := scheduleProps[prop]
			switch {
			case !known:
				return f.fail(prop, "not emulated")
			case problem != "":
				return f.fail(prop, problem)
			}
		}
		s := &Schedule{LogicalID: id, Enabled: true,
			ARN: "arn:aws:events:" + p.opts.Region + ":" + p.opts.AccountID + ":rule/" + id}
		expr, err := f.str("ScheduleExpression")
		if err != nil {
			return err
		}
		if s.Every, err = rate(expr); err != nil {
			return f.fail("ScheduleExpression", err.Error())
		}
		s.Expression = expr
		if s.Enabled, err = f.enabled(); err != nil {
			return err
		}
		if s.Targets, err = p.scheduleTargets(f); err != nil {
			return err
		}
		p.stack.Schedules = append(p.stack.Schedules, s)
	}
	return nil
}

// rate reads rate(N unit); cron expressions are refused.
func rate(expr string) (time.Duration, error) {
	m := ratePattern.FindStringSubmatch(expr)
	if m == nil {
		if strings.HasPrefix(expr, "cron(") {
			return 0, fmt.Errorf("%q: cron schedules are not emulated; use rate(...)", expr)
		}
		return 0, fmt.Errorf("%q: want rate(N minute|minutes|hour|hours|day|days)", expr)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.TrimSuffix(m[2], "s")]
	if (n == 1) != !strings.HasSuffix(m[2], "s") {
		return 0, fmt.Errorf("%q: EventBridge wants %q with 1 and the plural otherwise", expr, strings.TrimSuffix(m[2], "s"))
	}
	return time.Duration(n) * unit, nil
}

func (p *parser) scheduleTargets(f fields) ([]ScheduleTarget, error) {
	raw, ok := f.raw("Targets")
	if !ok {
		return nil, f.fail("Targets", "missing: a schedule without targets does nothing")
	}
	var targets []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &targets); err != nil {
		return nil, f.wrongType("Targets", "a list of targets", raw)
	}
	var out []ScheduleTarget
	for i, tg := range targets {
		tf := fields{id: f.id, typ: f.typ, prefix: fmt.Sprintf("Targets[%d].", i), m: tg}
		for _, prop := range slices.Sorted(maps.Keys(tg)) {
			problem, known := scheduleTargetProps[prop]
			switch {
			case !known:
				return nil, tf.fail(prop, "not emulated")
			case problem != "":
				return nil, tf.fail(prop, problem)
			}
		}
		v, ok := tf.value("Arn")
		if !ok {
			return nil, tf.fail("Arn", "missing")
		}
		arn, err := p.resolve(v)
		if err != nil {
			return nil, tf.fail("Arn", err.Error())
		}
		var fn *Function
		for _, candidate := range p.functions {
			if candidate.ARN == arn {
				fn = candidate
			}
		}
		if fn == nil {
			return nil, tf.fail("Arn", fmt.Sprintf("%q is not a function of this template; only functions are emulated as targets", arn))
		}
		input, err := tf.str("Input")
		if err != nil {
			return nil, err
		}
		if input != "" && !json.Valid([]byte(input)) {
			return nil, tf.fail("Input", "not JSON")
		}
		out = append(out, ScheduleTarget{Function: fn, Input: input})
	}
	return out, nil
}

// isSchedule says whether a rule is a schedule (read by parseSchedules)
// rather than an event-pattern rule (read by parseRuleNames and parseRules).
func isSchedule(f fields) bool {
	_, ok := f.raw("ScheduleExpression")
	return ok
}
