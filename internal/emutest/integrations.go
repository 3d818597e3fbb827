package emutest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/wire/events"
)

// Logical ids of what WithIntegrations adds to a template.
const (
	IntegrationsEventsFunction = "EventsFunctionTest"
	IntegrationsBus            = "ChatBusTest"
	IntegrationsEventsDLQ      = "EventsDlqTest"
	// IntegrationsSeenQueue gets every event of the bus (a rule's SQS
	// target): what a test reads to see the events.
	IntegrationsSeenQueue   = "SeenQueueTest"
	IntegrationsWebhookKey  = "WebhookSecretTest"
	IntegrationsHook        = "HookFunctionTest"
	IntegrationsWebhookName = "receiver"
)

// IntegrationsOptions says what WithIntegrations adds.
type IntegrationsOptions struct {
	// EventsText puts message text in events.
	EventsText bool
	// WebhookURL, when set, adds a webhook of that URL for message.created
	// events: its rule, queue (visibility 2 s, a DLQ after 3 receives),
	// generated secret and the webhooks function.
	WebhookURL string
	// Hook makes the word-filter example (examples/wordfilter, blocking
	// "spam", masking "darn") the chat function's before-send hook,
	// failing closed, with a 3 s budget (its first call starts a process).
	Hook bool
}

// Integrations names what WithIntegrations found or added.
type Integrations struct {
	// EventsFunction is the logical id of the events function, Bus of the
	// bus the rules listen on.
	EventsFunction, Bus string
}

// WithIntegrations writes to dst the template at src with the integrations
// a test needs. A template whose stack has events on (wschat's own, every
// environment: wschatcdk's ChatProps.Events) keeps its stream, events
// function, bus and dead-letter queue; one without gets them as the
// construct declares them (the store's filters, bisection, 10 retries, an
// on-failure queue, notice records on the publish function). Either way it
// adds a rule that copies every event to a queue (IntegrationsSeenQueue),
// sets the text switch, and adds what opts asks for. It is how the
// emulator's tests and the benchmark run the integrations on the dev stack.
func WithIntegrations(src, dst string, opts IntegrationsOptions) (Integrations, error) {
	var out Integrations
	doc, res, err := readTemplate(src)
	if err != nil {
		return out, err
	}
	var table, chatFn, publishFn string
	for id, r := range res {
		r, _ := r.(map[string]any)
		meta, _ := r["Metadata"].(map[string]any)
		pkg, _ := meta["wschat:goPackage"].(string)
		switch {
		case r["Type"] == "AWS::DynamoDB::Table":
			table = id
		case r["Type"] == "AWS::Lambda::Function" && (strings.HasPrefix(id, "ChatFunction") || strings.HasSuffix(pkg, "/lambdas/chat")):
			chatFn = id
		case r["Type"] == "AWS::Lambda::Function" && (strings.HasPrefix(id, "PublishFunction") || strings.HasSuffix(pkg, "/lambdas/publish")):
			publishFn = id
		case r["Type"] == "AWS::Lambda::Function" && strings.HasSuffix(pkg, "/lambdas/events"):
			out.EventsFunction = id
		case r["Type"] == "AWS::Events::EventBus":
			out.Bus = id
		}
	}
	if table == "" || chatFn == "" {
		return out, errors.New("with integrations: the template has no table or no chat function")
	}
	props := func(id string) map[string]any { return res[id].(map[string]any)["Properties"].(map[string]any) }
	envOf := func(id string) map[string]any {
		p := props(id)
		env, _ := p["Environment"].(map[string]any)
		if env == nil {
			env = map[string]any{}
			p["Environment"] = env
		}
		vars, _ := env["Variables"].(map[string]any)
		if vars == nil {
			vars = map[string]any{}
			env["Variables"] = vars
		}
		return vars
	}
	fn := func(pkg string, timeout int, env map[string]any) map[string]any {
		return map[string]any{"Type": "AWS::Lambda::Function", "Metadata": map[string]any{"wschat:goPackage": pkg},
			"Properties": map[string]any{"Handler": "bootstrap", "Runtime": "provided.al2023", "Timeout": timeout, "Environment": map[string]any{"Variables": env}}}
	}
	queue := func(p map[string]any) map[string]any {
		return map[string]any{"Type": "AWS::SQS::Queue", "Properties": p}
	}
	arn := func(id string) map[string]any { return map[string]any{"Fn::GetAtt": []any{id, "Arn"}} }
	ref := func(id string) map[string]any { return map[string]any{"Ref": id} }

	if out.EventsFunction == "" || out.Bus == "" {
		out.EventsFunction, out.Bus = IntegrationsEventsFunction, IntegrationsBus
		props(table)["StreamSpecification"] = map[string]any{"StreamViewType": "NEW_AND_OLD_IMAGES"}
		if publishFn != "" {
			envOf(publishFn)["WSCHAT_NOTICE_RECORDS"] = "true"
		}
		var filters []any
		for _, f := range dynamo.StreamFilters {
			filters = append(filters, map[string]any{"Pattern": f})
		}
		res[IntegrationsEventsFunction] = fn("./lambdas/events", 30, map[string]any{"WSCHAT_EVENT_BUS": ref(IntegrationsBus)})
		res[IntegrationsBus] = map[string]any{"Type": "AWS::Events::EventBus", "Properties": map[string]any{"Name": "wschat-test"}}
		res[IntegrationsEventsDLQ] = queue(map[string]any{})
		res["EventsMappingTest"] = map[string]any{"Type": "AWS::Lambda::EventSourceMapping", "Properties": map[string]any{
			"EventSourceArn": map[string]any{"Fn::GetAtt": []any{table, "StreamArn"}}, "FunctionName": ref(IntegrationsEventsFunction),
			"StartingPosition": "LATEST", "BatchSize": 100, "BisectBatchOnFunctionError": true, "MaximumRetryAttempts": 10,
			"FunctionResponseTypes": []any{"ReportBatchItemFailures"}, "FilterCriteria": map[string]any{"Filters": filters},
			"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": arn(IntegrationsEventsDLQ)}}}}
	}
	envOf(out.EventsFunction)["WSCHAT_EVENTS_TEXT"] = fmt.Sprint(opts.EventsText)
	res[IntegrationsSeenQueue] = queue(map[string]any{})
	res["SeenRuleTest"] = map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
		"EventBusName": ref(out.Bus), "EventPattern": map[string]any{"source": []any{events.DefaultSource}},
		"Targets": []any{map[string]any{"Id": "seen", "Arn": arn(IntegrationsSeenQueue)}}}}
	if opts.WebhookURL != "" {
		res[IntegrationsWebhookKey] = map[string]any{"Type": "AWS::SecretsManager::Secret", "Properties": map[string]any{
			"GenerateSecretString": map[string]any{"PasswordLength": 32, "ExcludePunctuation": true}}}
		res["WebhooksDlqTest"] = queue(map[string]any{})
		res["WebhooksQueueTest"] = queue(map[string]any{"VisibilityTimeout": 2, "RedrivePolicy": map[string]any{"deadLetterTargetArn": arn("WebhooksDlqTest"), "maxReceiveCount": 3}})
		res["WebhookRuleTest"] = map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
			"EventBusName": ref(out.Bus), "EventPattern": map[string]any{"source": []any{events.DefaultSource}, "detail-type": []any{events.TypeMessageCreated}},
			"Targets": []any{map[string]any{"Id": IntegrationsWebhookName, "Arn": arn("WebhooksQueueTest"), "InputTransformer": map[string]any{
				"InputPathsMap": map[string]any{}, "InputTemplate": `{"webhook":"` + IntegrationsWebhookName + `","event":<aws.events.event.json>}`}}}}}
		res["WebhooksFunctionTest"] = fn("./lambdas/webhooks", 30, map[string]any{"WSCHAT_WEBHOOKS": map[string]any{"Fn::Sub": []any{
			`{"` + IntegrationsWebhookName + `":{"url":"` + opts.WebhookURL + `","secretArn":"${S}"}}`, map[string]any{"S": ref(IntegrationsWebhookKey)}}}})
		res["WebhooksMappingTest"] = map[string]any{"Type": "AWS::Lambda::EventSourceMapping", "Properties": map[string]any{
			"EventSourceArn": arn("WebhooksQueueTest"), "FunctionName": ref("WebhooksFunctionTest"), "BatchSize": 10,
			"FunctionResponseTypes": []any{"ReportBatchItemFailures"}}}
	}
	if opts.Hook {
		env := envOf(chatFn)
		env["WSCHAT_HOOK_FUNCTION"] = ref(IntegrationsHook)
		env["WSCHAT_HOOK_TIMEOUT"] = "3s"
		env["WSCHAT_HOOK_FAILURE"] = "closed"
		res[IntegrationsHook] = fn("./examples/wordfilter", 5, map[string]any{"WORDFILTER_BLOCK": "spam", "WORDFILTER_MASK": "darn"})
	}
	return out, writeTemplate(dst, doc)
}

// WithoutEvents writes to dst the template at src with events off: no
// table stream (so the emulator captures none) and no mapping from it,
// no notice records. What the benchmark's "events off" row runs.
func WithoutEvents(src, dst string) error { return stripEvents(src, dst, false) }

// WithoutEventsConsumer writes to dst the template at src with its table
// stream (the emulator captures it, and the chat function writes notice
// records) but no mapping from it: nothing consumes the stream. The
// benchmark's middle row, which tells what the emulator's capture costs a
// send from what the events function's work on the same cores does.
func WithoutEventsConsumer(src, dst string) error { return stripEvents(src, dst, true) }

func stripEvents(src, dst string, keepStream bool) error {
	doc, res, err := readTemplate(src)
	if err != nil {
		return err
	}
	for id, r := range res {
		r, _ := r.(map[string]any)
		p, _ := r["Properties"].(map[string]any)
		switch r["Type"] {
		case "AWS::DynamoDB::Table":
			if !keepStream {
				delete(p, "StreamSpecification")
			}
		case "AWS::Lambda::EventSourceMapping":
			if g, ok := p["EventSourceArn"].(map[string]any)["Fn::GetAtt"].([]any); ok && len(g) == 2 && g[1] == "StreamArn" {
				delete(res, id)
			}
		case "AWS::Lambda::Function":
			if keepStream {
				break
			}
			if env, ok := p["Environment"].(map[string]any); ok {
				if vars, ok := env["Variables"].(map[string]any); ok {
					delete(vars, "WSCHAT_NOTICE_RECORDS")
				}
			}
		}
	}
	return writeTemplate(dst, doc)
}

func readTemplate(path string) (doc, res map[string]any, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("template %s: %w", path, err)
	}
	res, _ = doc["Resources"].(map[string]any)
	if res == nil {
		return nil, nil, fmt.Errorf("template %s: no Resources", path)
	}
	return doc, res, nil
}

func writeTemplate(path string, doc map[string]any) error {
	out, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}
