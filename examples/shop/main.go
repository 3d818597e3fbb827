// Command shop is a team's CDK app with wschat's real-time layer in its own
// stack: `cdk synth` (or `make example` in the wschat repository) writes
// cdk.out/Shop.template.json, which `cdk deploy` deploys and wschat's
// emulator runs (go run ./local --template examples/shop/cdk.out/Shop.template.json).
package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"example.com/shop/shopstack"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	shopstack.New(app, "Shop", nil)
	shopstack.AddNagChecks(app)
	app.Synth(nil)
}
