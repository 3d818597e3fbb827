// Package wschatcdk is wschat's real-time layer as an AWS CDK construct:
// NewChat defines, inside any stack, an API Gateway WebSocket API and stage
// with its Go Lambda handlers, the DynamoDB table, the fan-out queue and
// its dead-letter queue, the IAM-signed publish API, identity (a user pool
// of its own, or an existing issuer), the expiry function and its schedule
// (connections whose token expired are closed), alarms and a dashboard,
// with every IAM grant between them exact.
//
//	chat := wschatcdk.NewChat(stack, jsii.String("Chat"), &wschatcdk.ChatProps{StageName: "live"})
//	chat.GrantPublish(myFunction)        // post messages and notices
//	chat.GrantManageAccess(adminFunction) // private channels' members, revocation
//	myFunction.AddEnvironment(jsii.String("PUBLISH_URL"), chat.PublishURL(), nil)
//
// The handlers are built at synth time by import path
// (github.com/wschat/wschat/lambdas/<fn>) with the go command, in the CDK
// app's module: the version of wschat the app's go.mod requires is the one
// deployed, from the module cache or a replace directory. Asset hashes are
// the binaries', so every source change deploys.
//
// It follows the AWS CDK design guidelines: (scope, id, props) with a
// documented default for every prop, grants that return an iam.Grant,
// Metric methods, an import from attributes (FromChatAttributes), the
// underlying L2 constructs exposed, and construct ids of stateful
// resources that never change.
package wschatcdk
