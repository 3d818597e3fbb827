package archtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/modroot"
)

// heavy are the modules an importer of only the client or only the
// publisher must not get in its module graph.
var heavy = []string{
	"github.com/aws/aws-cdk-go/awscdk/v2", "github.com/aws/jsii-runtime-go", "github.com/aws/constructs-go/constructs/v10",
	"github.com/aws/aws-lambda-go", "github.com/cdklabs/cdk-nag-go/cdknag/v2",
}

// consumer is a fresh module outside the repository that imports wschat
// as another team would, through replace directives to this checkout.
type consumer struct {
	name    string
	imports []string
	files   map[string]string
	// forbid are modules its `go list -m all` must not list.
	forbid []string
	// run, when set, is what to run after the build (args of go).
	run []string
}

var consumers = []consumer{
	{
		name: "clientonly", imports: []string{"github.com/wschat/wschat/client"}, forbid: heavy,
		files: map[string]string{"main.go": `package main

import (
	"context"
	"fmt"

	"github.com/wschat/wschat/client"
)

func main() {
	_, err := client.Dial(context.Background(), "ws://127.0.0.1:1/dev", client.Options{})
	fmt.Println(err != nil)
}
`},
	},
	{
		name: "publisheronly", imports: []string{"github.com/wschat/wschat/publisher"},
		forbid: append([]string{"github.com/coder/websocket"}, heavy...),
		files: map[string]string{"main.go": `package main

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/wschat/wschat/publisher"
)

func main() {
	_, err := publisher.New(publisher.Options{Endpoint: "https://example.com/live", Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	fmt.Println(err)
}
`},
	},
	{
		name: "cdkapp", imports: []string{"github.com/wschat/wschat/wschatcdk"},
		run: []string{"run", "."},
		files: map[string]string{
			"main.go": `package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/wschat/wschat/wschatcdk"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Team"), nil)
	chat := wschatcdk.NewChat(stack, jsii.String("Chat"), nil)
	fn := awslambda.NewFunction(stack, jsii.String("Mine"), &awslambda.FunctionProps{
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         wschatcdk.GoCode("example.com/cdkapp/fn", ""),
	})
	chat.GrantPublish(fn)
	fn.AddEnvironment(jsii.String("PUBLISH_URL"), chat.PublishURL(), nil)
	app.Synth(nil)
}
`,
			"fn/main.go": `package main

import "github.com/aws/aws-lambda-go/lambda"

func main() { lambda.Start(func() error { return nil }) }
`,
		},
	},
}

// TestFreshConsumerModules builds, from a temporary directory outside the
// repository, one module per audience with replace directives to this
// checkout: a client-only and a publisher-only importer (whose module
// graphs must not hold CDK, jsii, constructs, Lambda or cdk-nag, nor, for
// the publisher, a WebSocket library), and a CDK app that embeds the
// construct in its own stack, grants its own function publish, and
// synthesizes, which builds every handler from the module cache's or
// replace directory's wschat through the app's go.mod.
func TestFreshConsumerModules(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	// The checksums this repository was tested with, so the consumers need
	// no lookup of their own.
	var sums []byte
	for _, m := range []string{".", "client", "publisher"} {
		b, err := os.ReadFile(filepath.Join(root, m, "go.sum"))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, b...)
	}
	for _, c := range consumers {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), c.name)
			write := func(name, content string) {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("go.mod", "module example.com/"+c.name+"\n\ngo 1.26.0\n\nreplace (\n"+
				"\tgithub.com/wschat/wschat => "+root+"\n"+
				"\tgithub.com/wschat/wschat/client => "+filepath.Join(root, "client")+"\n"+
				"\tgithub.com/wschat/wschat/publisher => "+filepath.Join(root, "publisher")+"\n"+
				"\tgithub.com/wschat/wschat/wire => "+filepath.Join(root, "wire")+"\n)\n")
			write("go.sum", string(sums))
			for name, content := range c.files {
				write(name, content)
			}
			gocmd(t, dir, nil, "mod", "edit", "-require=github.com/wschat/wschat@v0.1.0")
			if c.name != "cdkapp" {
				gocmd(t, dir, nil, "mod", "edit", "-droprequire=github.com/wschat/wschat",
					"-require="+c.imports[0]+"@v0.1.0")
			}
			gocmd(t, dir, nil, "mod", "tidy")
			gocmd(t, dir, nil, "build", "./...")
			all := gocmd(t, dir, nil, "list", "-m", "all")
			for _, f := range c.forbid {
				for _, line := range strings.Split(all, "\n") {
					if fields := strings.Fields(line); len(fields) > 0 && fields[0] == f {
						t.Errorf("%s's module graph holds %s", c.name, line)
					}
				}
			}
			if !strings.Contains(all, c.imports[0]) && !strings.Contains(all, "github.com/wschat/wschat ") {
				t.Errorf("%s's module graph does not hold %s:\n%s", c.name, c.imports[0], all)
			}
			t.Logf("%s: %d modules in its graph", c.name, strings.Count(strings.TrimSpace(all), "\n")+1)
			if c.run == nil {
				return
			}
			before := readModFiles(t, dir)
			out := filepath.Join(dir, "cdk.out")
			gocmd(t, dir, []string{"CDK_OUTDIR=" + out, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20"}, c.run...)
			b, err := os.ReadFile(filepath.Join(out, "Team.template.json"))
			if err != nil {
				t.Fatalf("the app synthesized no template: %v", err)
			}
			tpl := string(b)
			for _, want := range []string{`"ChatTable4603252B"`, `"execute-api:Invoke"`, `/POST/channels/*/messages`,
				`"wschat:goPackage": "github.com/wschat/wschat/lambdas/chat"`} {
				if !strings.Contains(tpl, want) {
					t.Errorf("the template lacks %s", want)
				}
			}
			if n := strings.Count(tpl, `"Type": "AWS::Lambda::Function"`); n != 8 {
				t.Errorf("%d functions in the template, want the layer's 7 and the app's own", n)
			}
			if after := readModFiles(t, dir); after != before {
				t.Errorf("synth changed the app's go.mod or go.sum")
			}
		})
	}
}

func readModFiles(t *testing.T, dir string) string {
	t.Helper()
	var all []byte
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return string(all)
}

// gocmd runs the go command in dir and returns its standard output.
func gocmd(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return stdout.String()
}
