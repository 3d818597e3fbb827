// Command infra is the wschat CDK app: `cdk synth -c env=prod` (or `make
// synth ENV=prod`) writes the CloudFormation template of one environment.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/infra/chatstack"
	"github.com/wschat/wschat/internal/modroot"
)

func main() {
	defer jsii.Close()
	if err := run(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "wschat synth:", err)
		jsii.Close()
		os.Exit(1)
	}
}

func run(getenv func(string) string) error {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return err
	}
	var props *awscdk.AppProps
	if getenv("CDK_OUTDIR") == "" {
		// Plain `go run ./infra` would synthesize into a temporary directory.
		props = &awscdk.AppProps{Outdir: jsii.String(filepath.Join(root, "cdk.out"))}
	}
	app := awscdk.NewApp(props)

	name := contextString(app, "env")
	if name == "" {
		name = "dev"
	}
	cfg, err := chatstack.Lookup(name)
	if err != nil {
		return err
	}
	cfg, err = chatstack.ApplyOverrides(cfg, func(key string) string { return contextString(app, key) })
	if err != nil {
		return err
	}
	// CDK_DEFAULT_ACCOUNT/REGION are deliberately not used: the CLI sets a
	// region even offline, which would tie every template to it. Unless the
	// environment's config or -c account=/-c region= pins them, the template
	// is environment-agnostic and deploys where the credentials point.

	if _, err := chatstack.NewChatStack(app, chatstack.StackProps{Config: cfg, ModuleRoot: root}); err != nil {
		return err
	}
	chatstack.AddNagChecks(app)
	app.Synth(nil)
	return nil
}

func contextString(app awscdk.App, key string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s)
	}
	// cdk.json may hold an object (groupChannels): hand it on as the JSON
	// that -c would carry.
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return strings.TrimSpace(fmt.Sprint(v))
}
