package chatstack

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/modroot"
	"github.com/wschat/wschat/wschatcdk"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

// synthesized holds each environment's stack and template, synthesized once
// for the whole package: jsii starts one Node process per package, and every
// bundle is built once per process.
var synthesized = map[string]*synthResult{}

type synthResult struct {
	stack    *ChatStack
	template map[string]any
	// nag holds cdk-nag's unsuppressed findings: "error: ..." or "warning: ...".
	nag []string
}

// nagControlFindings are the findings on newNagControl's stack.
var nagControlFindings []string

// nagControlRules are findings that newNagControl's stack must produce, one
// from each pack that AddNagChecks adds.
var nagControlRules = []string{"AwsSolutions-S10", "Serverless-SQSRedrivePolicy"}

// synthNagControl returns the findings on the positive control: a stack
// with the same context, checked by the same AddNagChecks and read by the
// same nagFindings as the real stacks. If the checks are not added, or the
// matcher stops recognizing findings, the control comes back clean and
// TestNagFindingsAllSuppressed fails. It needs an app of its own: with
// @aws-cdk/core:annotationsInValidationReport on, its error findings fail the
// synthesis of every stack in its app, so it is switched off here (and only
// here) to let the findings be read as annotations.
func synthNagControl(outdir string, context map[string]any) []string {
	ctx := maps.Clone(context)
	ctx["@aws-cdk/core:annotationsInValidationReport"] = false
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(outdir, "nag-control")), Context: &ctx})
	control := newNagControl(app)
	AddNagChecks(app)
	return nagFindings(control)
}

// newNagControl defines a stack that breaks one rule of each pack on purpose:
// a bucket that accepts plain HTTP (AwsSolutions-S10) and a queue without a
// dead-letter queue (Serverless-SQSRedrivePolicy). It is never deployed.
func newNagControl(scope constructs.Construct) awscdk.Stack {
	stack := awscdk.NewStack(scope, jsii.String("NagControl"), nil)
	awss3.NewBucket(stack, jsii.String("PlainHTTPBucket"), &awss3.BucketProps{EnforceSSL: jsii.Bool(false)})
	awssqs.NewQueue(stack, jsii.String("QueueWithoutDLQ"), nil)
	return stack
}

func TestMain(m *testing.M) {
	flag.Parse()
	// Node 20 makes every jsii process print an end-of-life banner.
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := func() int {
		defer jsii.Close()
		if err := synthAll(); err != nil {
			fmt.Fprintln(os.Stderr, "synth:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func synthAll() error {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return err
	}
	outdir, err := os.MkdirTemp("", "wschat-infra-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(outdir)

	context, err := cdkContext(root)
	if err != nil {
		return err
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &context})
	envs := Environments()
	// A fourth stack: prod pointed at an existing issuer instead of a pool,
	// with an alarm e-mail, a custom domain and a group mapping of its own.
	issuer := envs["prod"]
	issuer.Name = "prod-issuer"
	issuer, err = ApplyOverrides(issuer, func(k string) string {
		return map[string]string{
			"authIssuer":           "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
			"authAudiences":        "client-a, client-b",
			"authTokenUse":         "access",
			"groupChannels":        `{"staff":"*","members":"general,team-*=r"}`,
			"alarmEmail":           "oncall@example.com",
			"domainName":           "chat.example.com",
			"domainCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0f3c9a2e-1b2d-4c5e-8f90-123456789abc",
			// The integrations' keys: another account's bus, two webhooks
			// (one secret generated, one given) and a hook.
			"eventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/shared",
			"eventSource": "acme.chat",
			"webhooks": `[{"name":"crm","url":"https://crm.example.com/hooks/wschat","detailTypes":["message.created.v1","message.edited.v1"]},` +
				`{"name":"search","url":"https://search.example.com/wschat","secretArn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:search-AbCdEf"}]`,
			"beforeSendFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:word-filter",
			"beforeSendTimeout":     "250ms",
			"beforeSendFailure":     "closed",
		}[k]
	})
	if err != nil {
		return err
	}
	// Backends with names of their own, which users' names must not imitate.
	issuer.PublishNames = map[string]string{"arn:aws:iam::123456789012:role/orders": "Orders", "arn:aws:iam::123456789012:role/billing": "Billing"}
	envs[issuer.Name] = issuer
	// A fifth: dev pinned to an account and region, as the CLI does with
	// CDK_DEFAULT_ACCOUNT/REGION, which turns pseudo parameters into literals.
	pinned := envs["dev"]
	pinned.Name, pinned.Account, pinned.Region = "dev-pinned", "123456789012", "eu-west-1"
	envs[pinned.Name] = pinned

	for name, cfg := range envs {
		s, err := NewChatStack(app, StackProps{Config: cfg, ModuleRoot: root})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		synthesized[name] = &synthResult{stack: s}
	}
	AddNagChecks(app)
	for _, r := range synthesized {
		r.template = *assertions.Template_FromStack(r.stack.Stack, nil).ToJSON()
		r.nag = nagFindings(r.stack.Stack)
	}
	nagControlFindings = synthNagControl(outdir, context)
	return nil
}

// cdkContext is the context in cdk.json. The CLI hands it to every synth,
// and its feature flags change templates, so the tests synthesize with it
// too: golden templates synthesized without it would show what no deploy
// produces.
func cdkContext(root string) (map[string]any, error) {
	path := filepath.Join(root, "cdk.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Context) == 0 {
		return nil, fmt.Errorf("%s has no context: the feature flags are missing", path)
	}
	return f.Context, nil
}

// nagFindings are cdk-nag's unsuppressed findings on stack, as "error: ..."
// or "warning: ...". Only the two packs' findings count; each is reported
// whole, as JSON (the Go type of a finding is deprecated in favour of a
// Node-only package).
func nagFindings(stack awscdk.Stack) []string {
	var out []string
	ann := assertions.Annotations_FromStack(stack)
	pattern := assertions.Match_StringLikeRegexp(jsii.String("(AwsSolutions|Serverless)-.*"))
	for _, msg := range *ann.FindError(jsii.String("*"), pattern) {
		out = append(out, "error: "+nagFinding(msg))
	}
	for _, msg := range *ann.FindWarning(jsii.String("*"), pattern) {
		out = append(out, "warning: "+nagFinding(msg))
	}
	return out
}

// nagFinding is a finding's construct path and message, without the trace.
func nagFinding(msg any) string {
	var f struct {
		ID    string `json:"id"`
		Entry struct {
			Data any `json:"data"`
		} `json:"entry"`
	}
	if err := json.Unmarshal([]byte(asJSON(msg)), &f); err != nil {
		return asJSON(msg)
	}
	return fmt.Sprintf("%s: %v", f.ID, f.Entry.Data)
}

func tmpl(t *testing.T, env string) map[string]any {
	t.Helper()
	r, ok := synthesized[env]
	if !ok {
		t.Fatalf("no synthesized stack %q", env)
	}
	return r.template
}

// resources returns the template's resources of one type, by logical id.
func resources(t *testing.T, template map[string]any, typ string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range template["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// rulesWith returns the template's EventBridge rules that have property
// prop: ScheduleExpression for schedules, EventPattern for event rules.
func rulesWith(t *testing.T, template map[string]any, prop string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range resources(t, template, "AWS::Events::Rule") {
		if _, ok := props(r)[prop]; ok {
			out[id] = r
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// refID returns the logical id in {"Ref": id} or {"Fn::GetAtt": [id, ...]}.
func refID(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	if g, ok := m["Fn::GetAtt"].([]any); ok && len(g) > 0 {
		s, _ := g[0].(string)
		return s
	}
	return ""
}

// functionByPackage maps lambdas/<name> to the function's logical id.
func functionByPackage(t *testing.T, template map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, fn := range resources(t, template, "AWS::Lambda::Function") {
		meta, _ := fn["Metadata"].(map[string]any)
		pkg, _ := meta[contract.MetadataGoPackage].(string)
		if pkg == "" {
			t.Errorf("function %s has no %s metadata", id, contract.MetadataGoPackage)
			continue
		}
		out[strings.TrimPrefix(pkg, "github.com/wschat/wschat/lambdas/")] = id
	}
	return out
}

var envNames = []string{"dev", "staging", "prod", "prod-issuer", "dev-pinned"}

func TestUnknownEnvironmentListsValidNames(t *testing.T) {
	_, err := Lookup("nope")
	if err == nil {
		t.Fatal("Lookup(nope) succeeded")
	}
	for _, want := range []string{`"nope"`, "dev, prod, staging"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestRoutesAndIntegrations(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			apis := apisOf(t, template, "WEBSOCKET")
			if len(apis) != 1 {
				t.Fatalf("got %d WebSocket APIs, want 1", len(apis))
			}
			wsAPI := webSocketAPIID(t, template)
			for _, api := range apis {
				p := props(api)
				if p["ProtocolType"] != "WEBSOCKET" || p["RouteSelectionExpression"] != contract.RouteSelectionExpression {
					t.Errorf("API = %s, want WEBSOCKET with %s", asJSON(p), contract.RouteSelectionExpression)
				}
			}
			fns := functionByPackage(t, template)
			integrations := ofAPI(t, template, "AWS::ApiGatewayV2::Integration", wsAPI)
			integrationFn := map[string]string{}
			for id, in := range integrations {
				p := props(in)
				if p["IntegrationType"] == "MOCK" {
					integrationFn[id] = "MOCK"
					continue
				}
				if p["IntegrationType"] != "AWS_PROXY" {
					t.Errorf("integration %s type %v, want AWS_PROXY or MOCK", id, p["IntegrationType"])
				}
				for _, part := range p["IntegrationUri"].(map[string]any)["Fn::Join"].([]any)[1].([]any) {
					if fn := refID(part); fn != "" {
						integrationFn[id] = fn
					}
				}
			}

			want := map[string]string{
				contract.RouteConnect:    fns[contract.FunctionConnect],
				contract.RouteDisconnect: fns[contract.FunctionDisconnect],
				contract.RouteDefault:    fns[contract.FunctionChat],
			}
			for _, a := range contract.Actions {
				want[a] = fns[contract.FunctionChat]
			}
			// API Gateway answers ping itself (TestPingIsAnsweredByAPIGateway).
			want[contract.ActionPing] = "MOCK"
			got := map[string]string{}
			for id, route := range ofAPI(t, template, "AWS::ApiGatewayV2::Route", wsAPI) {
				p := props(route)
				key := p["RouteKey"].(string)
				parts := p["Target"].(map[string]any)["Fn::Join"].([]any)[1].([]any)
				if parts[0] != "integrations/" {
					t.Errorf("route %s target %s does not name an integration", id, asJSON(p["Target"]))
				}
				got[key] = integrationFn[refID(parts[1])]
			}
			if asJSON(got) != asJSON(want) {
				t.Errorf("route → function:\n got %s\nwant %s", asJSON(got), asJSON(want))
			}
		})
	}
}

func TestAuthorizerOnlyOnConnect(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			authorizers := resources(t, template, "AWS::ApiGatewayV2::Authorizer")
			if len(authorizers) != 1 {
				t.Fatalf("got %d authorizers, want 1", len(authorizers))
			}
			var authID string
			for id, a := range authorizers {
				authID = id
				p := props(a)
				if p["AuthorizerType"] != "REQUEST" {
					t.Errorf("authorizer type %v, want REQUEST", p["AuthorizerType"])
				}
				// Any identity source would make API Gateway refuse one of the
				// two token transports, and caching could serve one user's
				// decision to another: neither may be set.
				if src, ok := p["IdentitySource"].([]any); ok && len(src) > 0 {
					t.Errorf("authorizer has identity sources %v, want none", src)
				}
				if _, ok := p["AuthorizerResultTtlInSeconds"]; ok {
					t.Errorf("authorizer caches results: %v", p["AuthorizerResultTtlInSeconds"])
				}
				fn := functionByPackage(t, template)[contract.FunctionAuthorizer]
				if !strings.Contains(asJSON(p["AuthorizerUri"]), `"`+fn+`"`) {
					t.Errorf("authorizer URI %s does not invoke %s", asJSON(p["AuthorizerUri"]), fn)
				}
			}
			for id, route := range ofAPI(t, template, "AWS::ApiGatewayV2::Route", webSocketAPIID(t, template)) {
				p := props(route)
				if p["RouteKey"] == contract.RouteConnect {
					if p["AuthorizationType"] != "CUSTOM" || refID(p["AuthorizerId"]) != authID {
						t.Errorf("$connect route %s: authorization %v %v, want CUSTOM by %s", id, p["AuthorizationType"], p["AuthorizerId"], authID)
					}
					continue
				}
				if p["AuthorizationType"] != "NONE" || p["AuthorizerId"] != nil {
					t.Errorf("route %v: authorization %v, want NONE (authorizers are $connect-only)", p["RouteKey"], p["AuthorizationType"])
				}
			}
		})
	}
}

// statements returns each function's IAM statements, by lambdas/<name>.
func statements(t *testing.T, template map[string]any) map[string][]map[string]any {
	t.Helper()
	roleOfFn := map[string]string{}
	for name, id := range functionByPackage(t, template) {
		roleOfFn[refID(props(template["Resources"].(map[string]any)[id].(map[string]any))["Role"])] = name
	}
	out := map[string][]map[string]any{}
	for id, pol := range resources(t, template, "AWS::IAM::Policy") {
		p := props(pol)
		roles := p["Roles"].([]any)
		if len(roles) != 1 {
			t.Errorf("policy %s attaches to %d roles, want 1", id, len(roles))
			continue
		}
		fn, ok := roleOfFn[refID(roles[0])]
		if !ok {
			t.Errorf("policy %s attaches to a role of no function", id)
			continue
		}
		for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out[fn] = append(out[fn], s.(map[string]any))
		}
	}
	return out
}

func actionsOf(s map[string]any) []string {
	switch a := s["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, len(a))
		for i, x := range a {
			out[i] = x.(string)
		}
		return out
	}
	return nil
}

func resourcesOf(s map[string]any) []any {
	if r, ok := s["Resource"].([]any); ok {
		return r
	}
	return []any{s["Resource"]}
}

// wantActions are the IAM actions of each function (lambdas/<name>), X-Ray's
// aside: exactly what its code calls.
var wantActions = map[string][]string{
	contract.FunctionAuthorizer: {"logs:CreateLogStream", "logs:PutLogEvents"},
	// @connections DELETE only: the connection a reconnect replaces.
	contract.FunctionConnect: {"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
		"execute-api:ManageConnections", "logs:CreateLogStream", "logs:PutLogEvents"},
	contract.FunctionDisconnect: {"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query",
		"execute-api:ManageConnections", "logs:CreateLogStream", "logs:PutLogEvents"},
	// Above the fan-out threshold chat and publish enqueue tasks: only
	// SendMessage (which also authorizes SendMessageBatch).
	contract.FunctionChat: {"dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
		"dynamodb:Query", "dynamodb:UpdateItem", "execute-api:ManageConnections",
		"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"},
	// The send path (claim, seq, history, fan-out), the user index Query,
	// the 410 cleanup; @connections POST and DELETE in one statement.
	contract.FunctionPublish: {"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
		"dynamodb:Query", "dynamodb:UpdateItem", "execute-api:ManageConnections", "logs:CreateLogStream", "logs:PutLogEvents",
		"sqs:SendMessage"},
	// A shard's Query; the 410 cleanup (GetItem of the connection and the
	// shard count, DeleteItem, the count's UpdateItem ADD); @connections
	// POST; what Lambda's SQS poller calls with the function's role.
	contract.FunctionFanout: {"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem",
		"execute-api:ManageConnections", "logs:CreateLogStream", "logs:PutLogEvents",
		"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
	// The expiry index (Query, DeleteItem) and progress (GetItem,
	// UpdateItem), the connection (GetItem), the 410 cleanup; @connections
	// POST (token_expired) and DELETE (the close) in one statement.
	contract.FunctionExpiry: {"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem",
		"execute-api:ManageConnections", "logs:CreateLogStream", "logs:PutLogEvents"},
	// The stream as its mapping reads it (on this table's stream only), the
	// GetItem that names a lifecycle change, PutEvents on the bus, and the
	// on-failure queue's sends of the mapping (the events DLQ).
	contract.FunctionEvents: {"dynamodb:DescribeStream", "dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
		"dynamodb:ListStreams", "events:PutEvents", "logs:CreateLogStream", "logs:PutLogEvents",
		"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"},
	// Each webhook's secret (CDK merges the statements), the deliveries queue as
	// Lambda's SQS poller reads it.
	contract.FunctionWebhooks: {"logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue",
		"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
}

// queueByPrefix is the logical id of the one SQS queue whose id starts
// with prefix, "" when there is none.
func queueByPrefix(t *testing.T, template map[string]any, prefix string) string {
	t.Helper()
	for id := range resources(t, template, "AWS::SQS::Queue") {
		if strings.HasPrefix(id, prefix) {
			return id
		}
	}
	return ""
}

func TestIAMLeastPrivilege(t *testing.T) {
	xray := []string{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			stage := cfg.StageName
			tableID := refID(map[string]any{"Ref": "x"})
			for id := range resources(t, template, "AWS::DynamoDB::Table") {
				tableID = id
			}
			apiID := webSocketAPIID(t, template)
			queueID := fanoutQueueIDs(t, template).tasks
			// The events function sends only to its on-failure queue, the
			// webhooks function reads only its deliveries.
			ownQueue := map[string]string{
				contract.FunctionEvents:   queueByPrefix(t, template, "EventsDeadLetters"),
				contract.FunctionWebhooks: queueByPrefix(t, template, "EventsWebhookDeliveries"),
			}
			for fn, stmts := range statements(t, template) {
				var got []string
				for _, s := range stmts {
					if s["Effect"] != "Allow" {
						t.Errorf("%s: unexpected effect %v", fn, s["Effect"])
					}
					acts := actionsOf(s)
					got = append(got, acts...)
					for _, a := range acts {
						if strings.Contains(a, "*") {
							t.Errorf("%s: wildcard action %q", fn, a)
						}
					}
					for _, r := range resourcesOf(s) {
						isXRay := slices.Equal(sorted(acts), xray)
						if r == "*" && !isXRay {
							t.Errorf("%s: resource * for %v (only X-Ray, which supports no resource ARNs, may use it)", fn, acts)
						}
						switch {
						case strings.HasPrefix(acts[0], "dynamodb:"):
							if refID(r) != tableID {
								t.Errorf("%s: %v on %s, want only the table %s", fn, acts, asJSON(r), tableID)
							}
						case acts[0] == "execute-api:ManageConnections":
							j := asJSON(r)
							// Chat closes connections that keep exceeding their limits or
							// whose token expired, publish disconnects users, expiry closes
							// idle expired ones and connect closes the connection a
							// reconnect replaces: only they may DELETE, and connect may
							// not POST.
							deleteOK := (fn == contract.FunctionChat || fn == contract.FunctionPublish || fn == contract.FunctionExpiry ||
								fn == contract.FunctionConnect) && strings.HasSuffix(j, `"/`+stage+`/DELETE/@connections/*"]]}`)
							postOK := fn != contract.FunctionConnect && strings.HasSuffix(j, `"/`+stage+`/POST/@connections/*"]]}`)
							if !strings.Contains(j, `{"Ref":"`+apiID+`"}`) || !postOK && !deleteOK {
								t.Errorf("%s: ManageConnections on %s, want POST (chat, publish, expiry: or DELETE; connect: DELETE only) on this API (%s) and stage %q only", fn, j, apiID, stage)
							}
						case strings.HasPrefix(acts[0], "sqs:"):
							// Never the dead-letter queue: nothing reads it but an operator.
							if want := cmp.Or(ownQueue[fn], queueID); refID(r) != want {
								t.Errorf("%s: %v on %s, want only the queue %s", fn, acts, asJSON(r), want)
							}
						case acts[0] == "events:PutEvents":
							if bus := cfg.Events.BusARN; bus != "" && r != bus || bus == "" && !strings.HasPrefix(refID(r), "EventsBus") {
								t.Errorf("%s: PutEvents on %s, want only the events bus", fn, asJSON(r))
							}
						case acts[0] == "lambda:InvokeFunction":
							if r != cfg.BeforeSend.FunctionARN {
								t.Errorf("%s: InvokeFunction on %s, want only the hook %s", fn, asJSON(r), cfg.BeforeSend.FunctionARN)
							}
						case acts[0] == "secretsmanager:GetSecretValue":
							if !strings.HasPrefix(refID(r), "EventsSecretcrm") && r != cfg.Events.Webhooks[1].SecretARN {
								t.Errorf("%s: GetSecretValue on %s, want only a webhook's secret", fn, asJSON(r))
							}
						case strings.HasPrefix(acts[0], "logs:"):
							if refID(r) == "" || !strings.Contains(refID(r), "Logs") {
								t.Errorf("%s: logs permission on %s, want the function's own log group", fn, asJSON(r))
							}
						}
					}
				}
				want := wantActions[fn]
				if fn == contract.FunctionChat && cfg.BeforeSend != nil {
					want = append(slices.Clone(want), "lambda:InvokeFunction")
				}
				if cfg.Tracing {
					want = append(slices.Clone(want), xray...)
				}
				if !slices.Equal(sorted(got), sorted(want)) {
					t.Errorf("%s actions:\n got %v\nwant %v", fn, sorted(got), sorted(want))
				}
			}
			for id, role := range resources(t, template, "AWS::IAM::Role") {
				if mp, ok := props(role)["ManagedPolicyArns"]; ok {
					t.Errorf("role %s has managed policies %s; permissions come from grants only", id, asJSON(mp))
				}
			}
		})
	}
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func TestTablePerEnvironment(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			tables := resources(t, template, "AWS::DynamoDB::Table")
			// Frozen: a new logical id would replace the table and lose its data.
			table, ok := tables["TableCD117FA1"]
			if len(tables) != 1 || !ok {
				t.Fatalf("tables %v, want exactly TableCD117FA1", keys(tables))
			}
			p := props(table)
			checks := []struct{ name, got, want string }{
				{"key schema", asJSON(p["KeySchema"]), `[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]`},
				{"attributes", asJSON(p["AttributeDefinitions"]), `[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}]`},
				{"billing", asJSON(p["BillingMode"]), `"PAY_PER_REQUEST"`},
				{"ttl", asJSON(p["TimeToLiveSpecification"]), `{"AttributeName":"ttl","Enabled":true}`},
				{"encryption", asJSON(p["SSESpecification"]), `{"SSEEnabled":true}`},
				{"pitr", asJSON(p["PointInTimeRecoverySpecification"]), fmt.Sprintf(`{"PointInTimeRecoveryEnabled":%v}`, cfg.PointInTimeRecovery)},
				{"deletion protection", asJSON(p["DeletionProtectionEnabled"]), fmt.Sprint(cfg.retain())},
				{"table name", asJSON(p["TableName"]), "null"},
			}
			wantPolicy := "Delete"
			if cfg.retain() {
				wantPolicy = "Retain"
			}
			checks = append(checks,
				struct{ name, got, want string }{"deletion policy", fmt.Sprint(table["DeletionPolicy"]), wantPolicy},
				struct{ name, got, want string }{"update replace policy", fmt.Sprint(table["UpdateReplacePolicy"]), wantPolicy})
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
				}
			}
			if strings.HasPrefix(env, "prod") && (!cfg.PointInTimeRecovery || !cfg.retain()) {
				t.Errorf("prod must retain its table and keep PITR on")
			}
		})
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestFunctionsPerEnvironment(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			fns := functionByPackage(t, template)
			want := []string{"authorizer", "chat", "connect", "disconnect", "events", "expiry", "fanout", "publish"}
			if len(cfg.Events.Webhooks) > 0 {
				want = append(want, "webhooks")
			}
			if got := keys(fns); !slices.Equal(got, want) {
				t.Fatalf("functions %v, want %v", got, want)
			}
			res := template["Resources"].(map[string]any)
			for name, id := range fns {
				fn := res[id].(map[string]any)
				p := props(fn)
				tracing := "PassThrough"
				if cfg.Tracing {
					tracing = "Active"
				}
				// The fanout function serves no API Gateway route: its timeout
				// is its own, not bound by the 29 s integration limit.
				timeout := cfg.Timeout
				switch name {
				case contract.FunctionFanout:
					timeout = cfg.FanoutTimeout
				case contract.FunctionEvents:
					timeout = wschatcdk.EventsTimeout
				case contract.FunctionWebhooks:
					timeout = wschatcdk.WebhooksTimeout
				case contract.FunctionExpiry:
					timeout = 50 * time.Second // wschatcdk's expiryTimeout: a run bounded below a minute
				}
				checks := []struct{ what, got, want string }{
					{"runtime", asJSON(p["Runtime"]), `"provided.al2023"`},
					{"architecture", asJSON(p["Architectures"]), `["arm64"]`},
					{"handler", asJSON(p["Handler"]), `"bootstrap"`},
					{"memory", asJSON(p["MemorySize"]), fmt.Sprint(cfg.MemoryMB)},
					{"timeout", asJSON(p["Timeout"]), fmt.Sprint(int(timeout.Seconds()))},
					{"log format", asJSON(p["LoggingConfig"].(map[string]any)["LogFormat"]), `"JSON"`},
					{"tracing", asJSON(p["TracingConfig"]), fmt.Sprintf(`{"Mode":"%s"}`, tracing)},
				}
				if !cfg.Tracing && p["TracingConfig"] == nil {
					checks[len(checks)-1].got = `{"Mode":"PassThrough"}`
				}
				for _, c := range checks {
					if c.got != c.want {
						t.Errorf("%s %s = %s, want %s", name, c.what, c.got, c.want)
					}
				}
				logGroup := refID(p["LoggingConfig"].(map[string]any)["LogGroup"])
				lg, ok := res[logGroup].(map[string]any)
				if !ok {
					t.Errorf("%s logs to %q, not a log group of this stack", name, logGroup)
				} else if days := retentionDays(cfg.LogRetention); fmt.Sprint(props(lg)["RetentionInDays"]) != fmt.Sprint(days) {
					t.Errorf("%s log retention %v, want %v days", name, props(lg)["RetentionInDays"], days)
				}

				if name == contract.FunctionEvents || name == contract.FunctionWebhooks {
					continue // not the runtime's settings: TestEventsPerEnvironment checks theirs
				}
				vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
				if name == contract.FunctionAuthorizer {
					if _, ok := vars[contract.EnvTableName]; ok {
						t.Errorf("authorizer gets the table name; it must not touch the table")
					}
					if vars[contract.EnvAuthIssuer] == nil || vars[contract.EnvAuthAudiences] == nil {
						t.Errorf("authorizer env %s lacks the issuer or audiences", asJSON(vars))
					}
					continue
				}
				if refID(vars[contract.EnvTableName]) != "TableCD117FA1" {
					t.Errorf("%s %s = %s, want Ref of the table", name, contract.EnvTableName, asJSON(vars[contract.EnvTableName]))
				}
				cb := asJSON(vars[contract.EnvCallbackURL])
				if !strings.HasPrefix(cb, `{"Fn::Join":["",["https://",{"Ref":"WebSocketApi`) || !strings.HasSuffix(cb, `"/`+cfg.StageName+`"]]}`) {
					t.Errorf("%s callback URL %s, want the execute-api URL of stage %s", name, cb, cfg.StageName)
				}
				if name == contract.FunctionFanout || name == contract.FunctionExpiry {
					continue // the rest are chat settings; TestFanoutFunctionEnvironment and TestExpiry check theirs
				}
				if vars[contract.EnvHistoryRetention] != cfg.HistoryRetention.String() {
					t.Errorf("%s history retention %v, want %v", name, vars[contract.EnvHistoryRetention], cfg.HistoryRetention)
				}
				if want := strconv.Itoa(*cfg.PresenceMaxMembers); vars[contract.EnvPresenceMaxMembers] != want {
					t.Errorf("%s presence size %v, want %s", name, vars[contract.EnvPresenceMaxMembers], want)
				}
			}
		})
	}
}

// retentionDays is a log retention in whole days, as the template has it.
func retentionDays(d time.Duration) int { return int(d / (24 * time.Hour)) }

func TestStageThrottlingAndAccessLogs(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			stages := ofAPI(t, template, "AWS::ApiGatewayV2::Stage", webSocketAPIID(t, template))
			if len(stages) != 1 {
				t.Fatalf("got %d WebSocket stages, want 1", len(stages))
			}
			for _, st := range stages {
				p := props(st)
				if p["StageName"] != cfg.StageName || p["AutoDeploy"] != true {
					t.Errorf("stage %v autoDeploy %v, want %s auto-deployed", p["StageName"], p["AutoDeploy"], cfg.StageName)
				}
				want := fmt.Sprintf(`{"ThrottlingBurstLimit":%d,"ThrottlingRateLimit":%v}`, cfg.ThrottleBurst, cfg.ThrottleRate)
				if got := asJSON(p["DefaultRouteSettings"]); got != want {
					t.Errorf("throttling %s, want %s", got, want)
				}
				als := p["AccessLogSettings"].(map[string]any)
				var format map[string]string
				if err := json.Unmarshal([]byte(als["Format"].(string)), &format); err != nil {
					t.Errorf("access log format is not JSON: %v", err)
				}
				for _, k := range []string{"requestId", "connectionId", "routeKey", "status"} {
					if format[k] == "" {
						t.Errorf("access log format lacks %s", k)
					}
				}
				lg := template["Resources"].(map[string]any)[refID(als["DestinationArn"])].(map[string]any)
				days := retentionDays(cfg.LogRetention)
				if fmt.Sprint(props(lg)["RetentionInDays"]) != fmt.Sprint(days) {
					t.Errorf("access log retention %v, want %d", props(lg)["RetentionInDays"], days)
				}
			}
		})
	}
}

func TestIdentityPerEnvironment(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			pools := resources(t, template, "AWS::Cognito::UserPool")
			fnID := functionByPackage(t, template)[contract.FunctionAuthorizer]
			vars := props(template["Resources"].(map[string]any)[fnID].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
			if env == "prod-issuer" {
				if len(pools) != 0 {
					t.Errorf("an environment with an existing issuer creates %d user pools", len(pools))
				}
				want := map[string]any{
					contract.EnvAuthIssuer:    "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
					contract.EnvAuthAudiences: "client-a,client-b",
					contract.EnvAuthTokenUse:  "access",
				}
				for k, v := range want {
					if vars[k] != v {
						t.Errorf("%s = %v, want %v", k, vars[k], v)
					}
				}
				return
			}
			if len(pools) != 1 {
				t.Fatalf("got %d user pools, want 1", len(pools))
			}
			for id := range pools {
				if !strings.Contains(asJSON(vars[contract.EnvAuthIssuer]), `{"Ref":"`+id+`"}`) {
					t.Errorf("issuer %s does not name the pool %s", asJSON(vars[contract.EnvAuthIssuer]), id)
				}
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	for _, env := range envNames {
		outs := tmpl(t, env)["Outputs"].(map[string]any)
		for _, k := range []string{"WebSocketURL", "CallbackURL", "TableName", "PublishURL"} {
			if _, ok := outs[k]; !ok {
				t.Errorf("%s: no output %s", env, k)
			}
		}
		if got := asJSON(outs["WebSocketURL"]); !strings.Contains(got, `"wss://"`) {
			t.Errorf("%s: WebSocketURL %s is not wss://", env, got)
		}
	}
}

func TestNagFindingsAllSuppressed(t *testing.T) {
	// Positive control first: without it, no findings could also mean that
	// no check ran or that the matcher in nagFindings matches nothing.
	for _, rule := range nagControlRules {
		found := false
		for _, f := range nagControlFindings {
			found = found || strings.Contains(f, rule+":")
		}
		if !found {
			t.Fatalf("the deliberately non-compliant control stack has no %s finding (got %d findings: %q): "+
				"the cdk-nag packs did not run or nagFindings no longer recognizes their findings", rule, len(nagControlFindings), nagControlFindings)
		}
	}
	t.Logf("control stack: %d findings, %v among them", len(nagControlFindings), nagControlRules)
	for _, env := range envNames {
		if nag := synthesized[env].nag; len(nag) > 0 {
			t.Errorf("%s: %d unsuppressed cdk-nag findings:\n%s", env, len(nag), strings.Join(nag, "\n"))
		}
	}
}

// wantSuppressions is how many cdk-nag suppressions an environment's template
// must carry, derived from its configuration (see addNagSuppressions). An
// exact count, not just "some": a suppression that silences a finding no one
// reviewed shows up here even when its reason is long enough.
func wantSuppressions(cfg Config) int {
	n := len(contract.Actions) + 2 // AwsSolutions-APIG4: every route but $connect ($disconnect, $default, the actions)
	n += 3                         // AwsSolutions-IAM5: @connections/* of chat, disconnect and connect
	n += 1                         // AwsSolutions-IAM5: @connections/* (POST, DELETE) of publish
	n += 1                         // AwsSolutions-IAM5: @connections/* (POST) of fanout
	n += 1                         // AwsSolutions-IAM5: @connections/* (POST, DELETE) of expiry
	n += 7                         // Serverless-LambdaDLQ: every function
	n += 1                         // Serverless-LambdaEventSourceMappingDestination: the task queue's mapping (SQS has none)
	n += 1                         // Serverless-SQSRedrivePolicy: the dead-letter queue itself
	n += 1                         // Serverless-EventBusDLQ: the expiry schedule (a missed tick needs no replay)
	if cfg.Tracing {
		n += 7 // AwsSolutions-IAM5: X-Ray's Resource '*', every function
	} else {
		n += 7 // Serverless-LambdaTracing: every function
	}
	if cfg.Events != nil {
		n += 2 // Serverless-LambdaDLQ and the tracing finding of the events function
		n += 2 // the events DLQ: Serverless-SQSRedrivePolicy, AwsSolutions-SQS3 (a mapping's destination)
	}
	if cfg.Events != nil && len(cfg.Events.Webhooks) > 0 {
		n += 2 // Serverless-LambdaDLQ and the tracing finding of the webhooks function
		n += 1 // Serverless-SQSRedrivePolicy: the webhooks DLQ
		n += 1 // Serverless-LambdaEventSourceMappingDestination: the deliveries' mapping (SQS has none)
		for _, w := range cfg.Events.Webhooks {
			if w.SecretARN == "" && w.Secret == nil {
				n++ // AwsSolutions-SMG4: a generated signing secret, rotated with its receiver
			}
		}
	}
	if !cfg.PointInTimeRecovery {
		n++ // AwsSolutions-DDB3
	}
	if cfg.Auth.Issuer == "" {
		n += 2 // AwsSolutions-COG2, AwsSolutions-COG8
	}
	if cfg.AlarmEmail != "" {
		n++ // Serverless-SNSRedrivePolicy
	}
	return n
}

// TestNagSuppressionsHaveReasons checks every suppression in the templates
// names a rule of the two packs and gives a real reason, and that the
// suppressions were found at all: with no cdk_nag metadata (a renamed key, a
// suppression that never reached the template) there would be nothing to check.
func TestNagSuppressionsHaveReasons(t *testing.T) {
	rule := regexp.MustCompile(`^(AwsSolutions|Serverless)-[A-Za-z0-9]+$`)
	for _, env := range envNames {
		count := 0
		for id, r := range tmpl(t, env)["Resources"].(map[string]any) {
			meta, _ := r.(map[string]any)["Metadata"].(map[string]any)
			nag, _ := meta["cdk_nag"].(map[string]any)
			rules, _ := nag["rules_to_suppress"].([]any)
			for _, sup := range rules {
				count++
				s := sup.(map[string]any)
				if ruleID, _ := s["id"].(string); !rule.MatchString(ruleID) {
					t.Errorf("%s %s: suppression of %v, want a rule of AwsSolutions or Serverless", env, id, s["id"])
				}
				if reason, _ := s["reason"].(string); len(reason) < 40 {
					t.Errorf("%s %s: suppression of %v has reason %q; say why", env, id, s["id"], reason)
				}
			}
		}
		want := wantSuppressions(synthesized[env].stack.Config)
		t.Logf("%s: %d cdk-nag suppressions", env, count)
		if count == 0 || count != want {
			t.Errorf("%s: found %d cdk-nag suppressions in the template, want %d", env, count, want)
		}
	}
}

var assetHash = regexp.MustCompile(`[0-9a-f]{64}`)

// normalized is the template with asset hashes replaced, so golden files do
// not change with every edit to handler code.
func normalized(template map[string]any) []byte {
	b, _ := json.MarshalIndent(template, "", " ")
	return append(assetHash.ReplaceAll(b, []byte("ASSET_HASH")), '\n')
}

func TestGoldenTemplates(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			got := normalized(tmpl(t, env))
			path := filepath.Join("testdata", "golden", env+".template.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run `go test ./infra/chatstack -update` to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs from the synthesized template; review the change, then run `go test ./infra/chatstack -update`\n%s", path, firstDiff(string(want), string(got)))
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, x, y)
		}
	}
	return ""
}

// TestPingIsAnsweredByAPIGateway: the ping route is a MOCK integration whose
// request template selects 200 and whose integration response is the pong
// template, sent back by a $default route response; no function runs, so a
// heartbeat costs two messages and no Lambda invocation.
func TestPingIsAnsweredByAPIGateway(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			wsAPI := webSocketAPIID(t, template)
			var pingRoute, mockID string
			for id, route := range ofAPI(t, template, "AWS::ApiGatewayV2::Route", wsAPI) {
				p := props(route)
				if p["RouteKey"] != contract.ActionPing {
					continue
				}
				pingRoute = id
				mockID = refID(p["Target"].(map[string]any)["Fn::Join"].([]any)[1].([]any)[1])
				if p["RouteResponseSelectionExpression"] != "$default" {
					t.Errorf("ping route: RouteResponseSelectionExpression %v, want $default", p["RouteResponseSelectionExpression"])
				}
			}
			in := props(ofAPI(t, template, "AWS::ApiGatewayV2::Integration", wsAPI)[mockID])
			wantIn := map[string]any{"IntegrationType": "MOCK", "TemplateSelectionExpression": contract.TemplateSelectDefault,
				"RequestTemplates": map[string]any{contract.TemplateKeyDefault: contract.MockOKTemplate}}
			for k, v := range wantIn {
				if asJSON(in[k]) != asJSON(v) {
					t.Errorf("ping integration %s = %s, want %s", k, asJSON(in[k]), asJSON(v))
				}
			}
			var responses, routeResponses int
			for _, r := range ofAPI(t, template, "AWS::ApiGatewayV2::IntegrationResponse", wsAPI) {
				p := props(r)
				if refID(p["IntegrationId"]) != mockID {
					continue
				}
				responses++
				if p["IntegrationResponseKey"] != contract.TemplateKeyDefault ||
					asJSON(p["ResponseTemplates"]) != asJSON(map[string]any{contract.TemplateKeyDefault: contract.PongTemplate}) {
					t.Errorf("ping integration response = %s, want the pong template under $default", asJSON(p))
				}
			}
			for _, r := range ofAPI(t, template, "AWS::ApiGatewayV2::RouteResponse", wsAPI) {
				p := props(r)
				if refID(p["RouteId"]) == pingRoute && p["RouteResponseKey"] == "$default" {
					routeResponses++
				}
			}
			if responses != 1 || routeResponses != 1 {
				t.Errorf("ping: %d integration responses and %d $default route responses, want 1 and 1", responses, routeResponses)
			}
		})
	}
}

// TestExpiry: the expiry function runs every minute from an EventBridge
// schedule, without retries (the next run makes up for a failed one), with
// the table, callback, pool and metrics settings it reads and nothing of
// the chat settings; the chat function verifies renewals with exactly the
// authorizer's issuer settings; the grace and the direct-message switch
// reach the functions that apply them.
func TestExpiry(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			cfg := synthesized[env].stack.Config
			fns := functionByPackage(t, template)
			rules := rulesWith(t, template, "ScheduleExpression")
			if len(rules) != 1 {
				t.Fatalf("schedules %v, want the expiry schedule only", keys(rules))
			}
			for _, r := range rules {
				p := props(r)
				targets, _ := p["Targets"].([]any)
				if p["ScheduleExpression"] != contract.ExpirySchedule || p["State"] != "ENABLED" || len(targets) != 1 {
					t.Fatalf("rule %s, want %s, enabled, one target", asJSON(p), contract.ExpirySchedule)
				}
				tg := targets[0].(map[string]any)
				if refID(tg["Arn"]) != fns[contract.FunctionExpiry] || asJSON(tg["RetryPolicy"]) != `{"MaximumEventAgeInSeconds":60,"MaximumRetryAttempts":0}` {
					t.Errorf("target %s, want the expiry function without retries", asJSON(tg))
				}
			}
			res := template["Resources"].(map[string]any)
			vars := func(fn string) map[string]any {
				return props(res[fns[fn]].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
			}
			got := keys(vars(contract.FunctionExpiry))
			want := []string{contract.EnvCallbackURL, contract.EnvFanoutWorkers, contract.EnvLogLevel, contract.EnvMetricsNamespace, contract.EnvTableName}
			if !slices.Equal(got, sorted(want)) {
				t.Errorf("expiry environment %v, want %v", got, sorted(want))
			}
			authz, chat := vars(contract.FunctionAuthorizer), vars(contract.FunctionChat)
			for k, v := range authz {
				if k != contract.EnvLogLevel && asJSON(chat[k]) != asJSON(v) {
					t.Errorf("chat %s = %s, want the authorizer's %s", k, asJSON(chat[k]), asJSON(v))
				}
			}
			dm := "on"
			if cfg.DisableDirectMessages {
				dm = "off"
			}
			for _, fn := range []string{contract.FunctionConnect, contract.FunctionChat} {
				if v := vars(fn); v[contract.EnvTokenGrace] != (*cfg.TokenGrace).String() || v[contract.EnvDirectMessages] != dm {
					t.Errorf("%s grace %v, direct messages %v; want %v, %v", fn, v[contract.EnvTokenGrace], v[contract.EnvDirectMessages],
						*cfg.TokenGrace, dm)
				}
			}
		})
	}
}

// statefulIDs are the logical ids the stateful resources of a deployed
// WsChat-<env> had before the stack's code became the wschatcdk construct
// (commit 1a98f3e). A new logical id makes CloudFormation replace the
// resource: the table's history, the pool's users, the queues' tasks and
// the logs would go. ChatID ("Default") is what keeps them.
var statefulIDs = map[string]string{
	"TableCD117FA1":                  "AWS::DynamoDB::Table",
	"IdentityPool9E5AED46":           "AWS::Cognito::UserPool",
	"IdentityPoolWebClientF5179986":  "AWS::Cognito::UserPoolClient",
	"FanoutQueueTasks4BBC857A":       "AWS::SQS::Queue",
	"FanoutQueueDeadLetters26CDE978": "AWS::SQS::Queue",
	"AuthorizerFunctionLogs4F627F6E": "AWS::Logs::LogGroup",
	"ConnectFunctionLogsA31747B6":    "AWS::Logs::LogGroup",
	"DisconnectFunctionLogsD5D9D579": "AWS::Logs::LogGroup",
	"ChatFunctionLogs06C71ACC":       "AWS::Logs::LogGroup",
	"PublishFunctionLogs877419F6":    "AWS::Logs::LogGroup",
	"FanoutFunctionLogsE3A2665A":     "AWS::Logs::LogGroup",
	"EventsFunctionLogsF2744197":     "AWS::Logs::LogGroup",
	"EventsDeadLetters8A90034E":      "AWS::SQS::Queue",
	"WebSocketAccessLogs9551558C":    "AWS::Logs::LogGroup",
	"PublishAccessLogs7C8188D4":      "AWS::Logs::LogGroup",
	// The expiry function's (#21) came with it, not renamed from another.
	"ExpiryFunctionLogs65AFA603": "AWS::Logs::LogGroup",
	// Not stateful, but their ids are their URLs' and clients' config.
	"WebSocketApi273F6915": "AWS::ApiGatewayV2::Api",
	"PublishApiDEFB2040":   "AWS::ApiGatewayV2::Api",
}

func TestStatefulLogicalIDsKept(t *testing.T) {
	for _, env := range []string{"dev", "staging", "prod"} {
		res := tmpl(t, env)["Resources"].(map[string]any)
		for id, typ := range statefulIDs {
			r, ok := res[id].(map[string]any)
			if !ok || r["Type"] != typ {
				t.Errorf("%s: no %s %s: a deployed stack would replace it", env, typ, id)
			}
		}
		// And nothing stateful beside them that a deploy would create anew.
		for id, r := range res {
			switch typ := r.(map[string]any)["Type"]; typ {
			case "AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::SQS::Queue", "AWS::Logs::LogGroup":
				if statefulIDs[id] != typ {
					t.Errorf("%s: %s %s is new: is it a renamed stateful resource?", env, typ, id)
				}
			}
		}
	}
}
