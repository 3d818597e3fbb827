package wschatcdk_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/wschatcdk"
)

// A team puts the real-time layer in its own stack, next to its own
// function, which may then publish to the chat's channels.
func ExampleNewChat() {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	stack := awscdk.NewStack(app, jsii.String("Shop"), nil)

	chat := wschatcdk.NewChat(stack, jsii.String("Chat"), &wschatcdk.ChatProps{
		StageName:       "shop",
		DefaultChannels: "orders=r", // every customer may read the orders channel
	})

	orders := awslambda.NewFunction(stack, jsii.String("Orders"), &awslambda.FunctionProps{
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		// Any Go main package the app's go.mod resolves; here one of wschat's.
		Code: wschatcdk.GoCode("github.com/wschat/wschat/lambdas/publish", ""),
	})
	grant := chat.GrantPublish(orders)
	orders.AddEnvironment(jsii.String("PUBLISH_URL"), chat.PublishURL(), nil)

	stmt := (*grant.PrincipalStatements())[0]
	fmt.Println("stage:", chat.Props().StageName)
	fmt.Println("allowed:", *(*stmt.Actions())[0], "on", len(*stmt.Resources()), "routes")
	fmt.Println("effect:", stmt.Effect() == awsiam.Effect_ALLOW)
	// Output:
	// stage: shop
	// allowed: execute-api:Invoke on 3 routes
	// effect: true
}
