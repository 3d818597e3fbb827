package wschatcdk_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/wschatcdk"
)

// outdir is shared by every app of the tests: CDK's asset cache keys on
// it, so the handlers are built once for the package, not once per app.
var outdir string

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := func() int {
		defer jsii.Close()
		dir, err := os.MkdirTemp("", "wschatcdk-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		outdir = dir
		return m.Run()
	}()
	os.Exit(code)
}

func newStack(name string) awscdk.Stack {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	return awscdk.NewStack(app, jsii.String(name), nil)
}

func templateOf(stack awscdk.Stack) map[string]any {
	return *assertions.Template_FromStack(stack, nil).ToJSON()
}

func resources(template map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range template["Resources"].(map[string]any) {
		if r.(map[string]any)["Type"] == typ {
			out[id] = r.(map[string]any)
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

// TestDefaultProps: nil props (every prop at its default) make a working
// layer in any stack: the construct's own pool and alarm topic, nothing
// retained, a month of logs, and the construct id in every logical id.
func TestDefaultProps(t *testing.T) {
	stack := newStack("Team")
	chat := wschatcdk.NewChat(stack, jsii.String("Chat"), nil)
	template := templateOf(stack)

	for typ, n := range map[string]int{
		"AWS::ApiGatewayV2::Api": 2, "AWS::Lambda::Function": 7, "AWS::Events::Rule": 1, "AWS::DynamoDB::Table": 1, "AWS::SQS::Queue": 2,
		"AWS::Cognito::UserPool": 1, "AWS::SNS::Topic": 1, "AWS::KMS::Key": 1, "AWS::CloudWatch::Dashboard": 1,
	} {
		if got := len(resources(template, typ)); got != n {
			t.Errorf("%d %s, want %d", got, typ, n)
		}
	}
	table, ok := resources(template, "AWS::DynamoDB::Table")["ChatTable4603252B"]
	if !ok {
		t.Fatalf("no table ChatTable4603252B: the table's construct id (Table, under Chat) is API")
	}
	if table["DeletionPolicy"] != "Delete" || props(table)["DeletionProtectionEnabled"] != false {
		t.Errorf("table deletion policy %v, protection %v; want Delete and off by default", table["DeletionPolicy"], props(table)["DeletionProtectionEnabled"])
	}
	for id, lg := range resources(template, "AWS::Logs::LogGroup") {
		if got := props(lg)["RetentionInDays"]; fmt.Sprint(got) != "30" {
			t.Errorf("log group %s keeps logs %v days, want 30", id, got)
		}
	}
	got := chat.Props()
	if got.Name != "Team" || got.StageName != "live" || *got.PresenceMaxMembers != 100 || *got.MaxConnectionsPerUser != 10 ||
		got.Auth.TokenUse != "id" || got.GroupChannels["wschat-all"] != "*" || got.RemovalPolicy != awscdk.RemovalPolicy_DESTROY {
		t.Errorf("Props() = %+v, want the documented defaults", got)
	}
	if chat.UserPool() == nil || chat.UserPoolClient() == nil || chat.AlarmTopic() == nil || len(chat.Alarms()) != 18 {
		t.Errorf("pool %v, client %v, topic %v, %d alarms; want the layer's own pool, topic and 18 alarms",
			chat.UserPool(), chat.UserPoolClient(), chat.AlarmTopic(), len(chat.Alarms()))
	}
	fns := chat.Functions()
	for name, fn := range map[string]any{"authorizer": fns.Authorizer, "connect": fns.Connect, "disconnect": fns.Disconnect,
		"chat": fns.Chat, "publish": fns.Publish, "fanout": fns.Fanout} {
		if fn == nil {
			t.Errorf("Functions().%s is nil", name)
		}
	}
	vars := props(resources(template, "AWS::Lambda::Function")["ChatChatFunction2000DAB6"])["Environment"].(map[string]any)["Variables"].(map[string]any)
	if vars["WSCHAT_METRICS_NAMESPACE"] != "WsChat/Team" {
		t.Errorf("metrics namespace %v, want WsChat/Team (the stack's name)", vars["WSCHAT_METRICS_NAMESPACE"])
	}
	if got := asJSON(chat.MetricDeliveries(nil).Namespace()); got != `"WsChat/Team"` {
		t.Errorf("MetricDeliveries namespace %s, want the handlers' WsChat/Team", got)
	}
}

// TestBadPropsNameEveryProp: invalid props stop NewChat before anything is
// created, with one error that names each bad prop.
func TestBadPropsNameEveryProp(t *testing.T) {
	stack := newStack("Bad")
	props := &wschatcdk.ChatProps{
		StageName: "no spaces", MemoryMB: 64, Timeout: 60_000_000_000, LogRetention: 2 * 24 * 3_600_000_000_000,
		RemovalPolicy: awscdk.RemovalPolicy_SNAPSHOT, PresenceMaxMembers: new(-1), DefaultChannels: "Bad#",
		TokenGrace: new(time.Duration(1_500_000_000)), // 1.5 s: not whole seconds
		Auth:       wschatcdk.AuthProps{Issuer: "http://not-https.example.com"},
		Domain:     &wschatcdk.DomainProps{Name: "nodot"},
		AlarmEmail: "oncall@example.com", AlarmTopic: awssns.Topic_FromTopicArn(stack, jsii.String("T"), jsii.String("arn:aws:sns:eu-west-1:123456789012:t")),
	}
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err, _ = r.(error)
			}
		}()
		wschatcdk.NewChat(stack, jsii.String("Chat"), props)
	}()
	var perr *wschatcdk.PropsError
	if !errors.As(err, &perr) {
		t.Fatalf("NewChat with bad props: %v, want a panic with a *PropsError", err)
	}
	for _, want := range []string{"StageName", "MemoryMB", "Timeout", "LogRetention", "RemovalPolicy", "PresenceMaxMembers",
		"DefaultChannels", "TokenGrace", "Auth.Issuer", "Auth.Audiences", "Domain.Name", "Domain.CertificateARN", "AlarmEmail"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s:\n%v", want, err)
		}
	}
	if len(perr.Errs) != 13 {
		t.Errorf("%d problems reported, want 13 (one per bad prop):\n%v", len(perr.Errs), err)
	}
	if n := len(*stack.Node().Children()); n != 1 { // the imported topic only
		t.Errorf("the stack has %d children after a refused NewChat, want only the imported topic", n)
	}
	if err := props.Validate(); err == nil || err.Error() != perr.Error() {
		t.Errorf("Validate() = %v, want the same error as NewChat", err)
	}
}

// statementsOf returns the statements of the policies attached to the
// role with the given logical id prefix.
func statementsOf(t *testing.T, template map[string]any, rolePrefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, pol := range resources(template, "AWS::IAM::Policy") {
		p := props(pol)
		if !strings.Contains(asJSON(p["Roles"]), `{"Ref":"`+rolePrefix) {
			continue
		}
		for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, s.(map[string]any))
		}
	}
	return out
}

// resourceTails are the ARNs of a statement from the stage on.
func resourceTails(s map[string]any, stage string) []string {
	var out []string
	rs, ok := s["Resource"].([]any)
	if !ok {
		rs = []any{s["Resource"]}
	}
	for _, r := range rs {
		j := asJSON(r)
		if i := strings.LastIndex(j, "/"+stage+"/"); i >= 0 {
			j = strings.TrimRight(j[i:], `"]}`)
		}
		out = append(out, j)
	}
	sort.Strings(out)
	return out
}

// TestGrants: GrantPublish gives a role execute-api:Invoke on exactly the
// three publish routes of this stage, in one statement; GrantManageAccess
// likewise on exactly the five access routes; GrantManageConnections gives
// @connections of this stage; each returns the grant.
func TestGrants(t *testing.T) {
	stack := newStack("Grants")
	chat := wschatcdk.NewChat(stack, jsii.String("Chat"), &wschatcdk.ChatProps{StageName: "qa"})
	backend := awsiam.NewRole(stack, jsii.String("Backend"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil)})
	operator := awsiam.NewRole(stack, jsii.String("Operator"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil)})
	if g := chat.GrantPublish(backend); !*g.Success() {
		t.Errorf("GrantPublish did not succeed")
	}
	chat.GrantManageConnections(operator)
	admin := awsiam.NewRole(stack, jsii.String("Admin"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil)})
	if g := chat.GrantManageAccess(admin); !*g.Success() {
		t.Errorf("GrantManageAccess did not succeed")
	}
	template := templateOf(stack)

	stmts := statementsOf(t, template, "Backend")
	if len(stmts) != 1 || stmts[0]["Action"] != "execute-api:Invoke" {
		t.Fatalf("backend statements %s, want one execute-api:Invoke", asJSON(stmts))
	}
	want := []string{"/qa/DELETE/users/*/connections", "/qa/POST/channels/*/messages", "/qa/POST/users/*/messages"}
	if got := resourceTails(stmts[0], "qa"); !slices.Equal(got, want) {
		t.Errorf("GrantPublish resources %v, want exactly %v", got, want)
	}
	if j := asJSON(stmts[0]); !strings.Contains(j, `{"Ref":"ChatPublishApi`) {
		t.Errorf("GrantPublish %s is not on this layer's publish API", j)
	}
	stmts = statementsOf(t, template, "Admin")
	want = []string{"/qa/DELETE/channels/*/members/*", "/qa/GET/channels/*/members", "/qa/POST/channels/*/moderation",
		"/qa/PUT/channels/*", "/qa/PUT/channels/*/members/*", "/qa/PUT/users/*/revocation"}
	if len(stmts) != 1 || stmts[0]["Action"] != "execute-api:Invoke" || !slices.Equal(resourceTails(stmts[0], "qa"), want) ||
		!strings.Contains(asJSON(stmts[0]), `{"Ref":"ChatPublishApi`) {
		t.Errorf("GrantManageAccess %s, want one execute-api:Invoke on exactly %v of this layer's publish API", asJSON(stmts), want)
	}
	stmts = statementsOf(t, template, "Operator")
	if len(stmts) != 1 || stmts[0]["Action"] != "execute-api:ManageConnections" ||
		!slices.Equal(resourceTails(stmts[0], "qa"), []string{"/qa/*/@connections/*"}) || !strings.Contains(asJSON(stmts[0]), `{"Ref":"ChatWebSocketApi`) {
		t.Errorf("GrantManageConnections %s, want ManageConnections on this API's stage qa only", asJSON(stmts))
	}
}

// TestFromChatAttributes: another app grants publish to a deployed layer by
// its ids, with no reference to its stack, and gets its URLs.
func TestFromChatAttributes(t *testing.T) {
	stack := newStack("Billing")
	chat := wschatcdk.FromChatAttributes(stack, jsii.String("Chat"), &wschatcdk.ChatAttributes{
		WebSocketAPIID: "ws1234", PublishAPIID: "pub5678", StageName: "prod", Region: "eu-west-1", Account: "123456789012",
	})
	role := awsiam.NewRole(stack, jsii.String("Invoicer"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	chat.GrantPublish(role)
	chat.GrantManageConnections(role)
	chat.GrantManageAccess(role)
	awscdk.NewCfnOutput(stack, jsii.String("Publish"), &awscdk.CfnOutputProps{Value: chat.PublishURL()})
	awscdk.NewCfnOutput(stack, jsii.String("WebSocket"), &awscdk.CfnOutputProps{Value: chat.WebSocketURL()})
	template := templateOf(stack)

	var arns []string
	for _, s := range statementsOf(t, template, "Invoicer") {
		rs, ok := s["Resource"].([]any)
		if !ok {
			rs = []any{s["Resource"]}
		}
		for _, r := range rs {
			j := asJSON(r)
			arns = append(arns, j[strings.Index(j, ":execute-api:")+1:strings.LastIndex(j, `"`)])
		}
	}
	sort.Strings(arns)
	want := []string{
		`execute-api:eu-west-1:123456789012:pub5678/prod/DELETE/channels/*/members/*`,
		`execute-api:eu-west-1:123456789012:pub5678/prod/DELETE/users/*/connections`,
		`execute-api:eu-west-1:123456789012:pub5678/prod/GET/channels/*/members`,
		`execute-api:eu-west-1:123456789012:pub5678/prod/POST/channels/*/messages`,
		`execute-api:eu-west-1:123456789012:pub5678/prod/POST/channels/*/moderation`,
		`execute-api:eu-west-1:123456789012:pub5678/prod/POST/users/*/messages`,
		`execute-api:eu-west-1:123456789012:pub5678/prod/PUT/channels/*`,
		`execute-api:eu-west-1:123456789012:pub5678/prod/PUT/channels/*/members/*`,
		`execute-api:eu-west-1:123456789012:pub5678/prod/PUT/users/*/revocation`,
		`execute-api:eu-west-1:123456789012:ws1234/prod/*/@connections/*`,
	}
	if !slices.Equal(arns, want) {
		t.Errorf("grants on %v, want %v", arns, want)
	}
	outs := asJSON(template["Outputs"])
	for _, w := range []string{`"https://pub5678.execute-api.eu-west-1.",{"Ref":"AWS::URLSuffix"},"/prod"`, `"wss://ws1234.execute-api.eu-west-1.",{"Ref":"AWS::URLSuffix"},"/prod"`} {
		if !strings.Contains(outs, w) {
			t.Errorf("outputs %s lack %s", outs, w)
		}
	}
	if n := len(template["Resources"].(map[string]any)); n != 2 {
		t.Errorf("%d resources, want the role and its policy only: an import creates nothing", n)
	}

	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "PublishAPIID") {
			t.Errorf("FromChatAttributes without PublishAPIID: panic %v, want one naming it", r)
		}
	}()
	wschatcdk.FromChatAttributes(stack, jsii.String("Half"), &wschatcdk.ChatAttributes{WebSocketAPIID: "ws1"})
}

// TestExistingIssuerAndTopic: with an issuer the layer creates no pool; with
// an alarm topic it creates none of its own (nor its key) and every alarm
// notifies the given one.
func TestExistingIssuerAndTopic(t *testing.T) {
	stack := newStack("Shared")
	topic := awssns.NewTopic(stack, jsii.String("OpsTopic"), nil)
	chat := wschatcdk.NewChat(stack, jsii.String("Chat"), &wschatcdk.ChatProps{
		Auth:       wschatcdk.AuthProps{Issuer: "https://login.example.com", Audiences: []string{"app"}},
		AlarmTopic: topic,
	})
	template := templateOf(stack)
	if n := len(resources(template, "AWS::Cognito::UserPool")); n != 0 || chat.UserPool() != nil {
		t.Errorf("%d user pools (UserPool() %v) with an existing issuer, want none", n, chat.UserPool())
	}
	if n := len(resources(template, "AWS::SNS::Topic")); n != 1 || len(resources(template, "AWS::KMS::Key")) != 0 {
		t.Errorf("%d topics, %d keys; want only OpsTopic", n, len(resources(template, "AWS::KMS::Key")))
	}
	for id, a := range resources(template, "AWS::CloudWatch::Alarm") {
		if !strings.Contains(asJSON(props(a)["AlarmActions"]), `"Ref":"OpsTopic`) {
			t.Errorf("alarm %s notifies %s, want OpsTopic", id, asJSON(props(a)["AlarmActions"]))
		}
	}
	if got := chat.Props().Auth.TokenUse; got != "any" {
		t.Errorf("token use with an issuer %q, want any by default", got)
	}
}

// TestGoModuleDir: a directory without go.mod is refused, naming the prop.
func TestGoModuleDir(t *testing.T) {
	stack := newStack("NoModule")
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "GoModuleDir") {
			t.Errorf("GoModuleDir without go.mod: panic %v, want one naming the prop", r)
		}
	}()
	wschatcdk.NewChat(stack, jsii.String("Chat"), &wschatcdk.ChatProps{GoModuleDir: filepath.Join(t.TempDir(), "none")})
}
