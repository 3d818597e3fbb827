package shopstack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

var (
	shop     *Stack
	template map[string]any
	findings []string
	control  []string
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := func() int {
		defer jsii.Close()
		// A directory of this run's own: Template_FromStack reads the
		// template back from the assembly, which a concurrent run must not
		// overwrite.
		dir, err := os.MkdirTemp("", "shop-test-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
		shop = New(app, "Shop", nil)
		// The positive control: a queue without a dead-letter queue, which
		// the same checks must flag, in an app of its own.
		ctx := map[string]any{"@aws-cdk/core:annotationsInValidationReport": false}
		bad := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(filepath.Join(dir, "control"))})
		badStack := awscdk.NewStack(bad, jsii.String("Control"), nil)
		awssqs.NewQueue(badStack, jsii.String("NoDLQ"), nil)
		AddNagChecks(app)
		AddNagChecks(bad)
		template = *assertions.Template_FromStack(shop.Stack, nil).ToJSON()
		findings = nagFindings(shop.Stack)
		control = nagFindings(badStack)
		return m.Run()
	}()
	os.Exit(code)
}

func nagFindings(stack awscdk.Stack) []string {
	var out []string
	ann := assertions.Annotations_FromStack(stack)
	pattern := assertions.Match_StringLikeRegexp(jsii.String("(AwsSolutions|Serverless)-.*"))
	for _, msg := range append(*ann.FindError(jsii.String("*"), pattern), *ann.FindWarning(jsii.String("*"), pattern)...) {
		b, _ := json.Marshal(msg)
		out = append(out, string(b))
	}
	return out
}

func TestNagClean(t *testing.T) {
	if !slices.ContainsFunc(control, func(f string) bool { return strings.Contains(f, "Serverless-SQSRedrivePolicy") }) {
		t.Fatalf("the control stack has no Serverless-SQSRedrivePolicy finding (%d findings): the checks did not run", len(control))
	}
	for _, f := range findings {
		t.Errorf("unsuppressed cdk-nag finding: %s", f)
	}
}

func resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range template["Resources"].(map[string]any) {
		if r.(map[string]any)["Type"] == typ {
			out[id] = r.(map[string]any)
		}
	}
	return out
}

// TestOrdersMayPublishAndNothingElse: the orders role may invoke exactly
// the three publish routes of the chat's stage (GrantPublish) and write its
// logs; the function is told the publish URL.
func TestOrdersMayPublishAndNothingElse(t *testing.T) {
	role := *awscdk.Stack_Of(shop.Stack).GetLogicalId(shop.Orders.Role().Node().DefaultChild().(awscdk.CfnElement))
	var actions, routes []string
	for _, pol := range resources("AWS::IAM::Policy") {
		p := pol["Properties"].(map[string]any)
		b, _ := json.Marshal(p["Roles"])
		if !strings.Contains(string(b), `"`+role+`"`) {
			continue
		}
		for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			b, _ := json.Marshal(st["Action"])
			actions = append(actions, string(b))
			if st["Action"] == "execute-api:Invoke" {
				for _, r := range st["Resource"].([]any) {
					b, _ := json.Marshal(r)
					s := string(b)
					routes = append(routes, s[strings.Index(s, `"/shop/`)+1:strings.LastIndex(s, `"]]}`)])
				}
			}
		}
	}
	slices.Sort(routes)
	want := []string{"/shop/DELETE/users/*/connections", "/shop/POST/channels/*/messages", "/shop/POST/users/*/messages"}
	if !slices.Equal(routes, want) {
		t.Errorf("orders may invoke %v, want exactly %v (actions %v)", routes, want, actions)
	}
	if len(actions) != 2 {
		t.Errorf("orders role statements %v, want the publish grant and its log group", actions)
	}
	for _, fn := range resources("AWS::Lambda::Function") {
		vars, _ := fn["Properties"].(map[string]any)["Environment"].(map[string]any)
		if vars == nil {
			continue
		}
		if u, ok := vars["Variables"].(map[string]any)["SHOP_PUBLISH_URL"]; ok {
			b, _ := json.Marshal(u)
			if !strings.Contains(string(b), `"Ref":"ChatPublishApi`) || !strings.HasSuffix(string(b), `"/shop"]]}`) {
				t.Errorf("SHOP_PUBLISH_URL = %s, want the chat's publish URL", b)
			}
			return
		}
	}
	t.Error("no function has SHOP_PUBLISH_URL")
}

// TestChatInTheShopsStack: the whole layer is in the shop's own stack,
// under the construct id Chat.
func TestChatInTheShopsStack(t *testing.T) {
	for typ, n := range map[string]int{"AWS::DynamoDB::Table": 1, "AWS::Cognito::UserPool": 1, "AWS::SQS::Queue": 2, "AWS::Lambda::Function": 8} {
		if got := len(resources(typ)); got != n {
			t.Errorf("%d %s, want %d", got, typ, n)
		}
	}
	if _, ok := resources("AWS::DynamoDB::Table")["ChatTable4603252B"]; !ok {
		t.Errorf("tables %v, want ChatTable4603252B (the construct's Table under the id Chat)", resources("AWS::DynamoDB::Table"))
	}
}
