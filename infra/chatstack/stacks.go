// Package chatstack defines wschat's own stacks, WsChat-<env>: one per
// environment of Environments, each holding the chat layer of the
// wschatcdk construct at the stack's top level, with the environment's
// settings, stack-level tags and the outputs operators read.
package chatstack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/wschatcdk"
)

// ChatID is the construct id of the chat layer in the stacks. "Default" is
// the one id that CDK leaves out of the logical ids of the resources under
// it (see identifiers in the CDK developer guide), so every resource keeps
// the logical id it had before the stack's resources moved into the
// construct: a deployed WsChat-<env> updates in place, its table, user pool,
// queues and log groups (and its API URLs, app client and alarms) untouched.
// It is frozen for the same reason as the table's id.
const ChatID = "Default"

// StackProps are the inputs of one environment's stack.
type StackProps struct {
	Config Config
	// ModuleRoot is the directory of the go.mod that the handlers are built
	// from ("": the module of the working directory).
	ModuleRoot string
}

// ChatStack is one environment's stack with typed handles for tests.
type ChatStack struct {
	awscdk.Stack
	Config Config
	Chat   wschatcdk.Chat
}

// StackName is the CloudFormation stack name of an environment.
func StackName(env string) string { return "WsChat-" + env }

// NewChatStack validates cfg and defines the environment's stack in app.
func NewChatStack(scope constructs.Construct, props StackProps) (*ChatStack, error) {
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	stack := awscdk.NewStack(scope, jsii.String(StackName(cfg.Name)), &awscdk.StackProps{
		Env:         stackEnvironment(cfg),
		Description: jsii.String(fmt.Sprintf("wschat real-time WebSocket chat (%s)", cfg.Name)),
		Tags:        &map[string]*string{"project": jsii.String("wschat"), "environment": jsii.String(cfg.Name)},
	})
	chatProps := cfg.ChatProps
	chatProps.GoModuleDir = props.ModuleRoot
	s := &ChatStack{Stack: stack, Config: cfg, Chat: wschatcdk.NewChat(stack, jsii.String(ChatID), &chatProps)}
	s.addOutputs()
	return s, nil
}

// stackEnvironment pins the stack to an account and region only where the
// configuration names them; otherwise the template is environment-agnostic.
func stackEnvironment(cfg Config) *awscdk.Environment {
	if cfg.Account == "" && cfg.Region == "" {
		return nil
	}
	env := &awscdk.Environment{}
	if cfg.Account != "" {
		env.Account = jsii.String(cfg.Account)
	}
	if cfg.Region != "" {
		env.Region = jsii.String(cfg.Region)
	}
	return env
}

// addOutputs emits what clients, backends and operators need: where to
// connect and publish, the callback endpoint, the table, the user pool, and
// the API ids that wschatcdk.FromChatAttributes imports the layer by.
func (s *ChatStack) addOutputs() {
	output := func(id, description string, value *string) {
		props := &awscdk.CfnOutputProps{Value: value}
		if description != "" {
			props.Description = jsii.String(description)
		}
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), props)
	}
	c := s.Chat
	if d := s.Config.Domain; d != nil {
		output("CustomDomainURL", "Clients may connect here; handlers still post to CallbackURL", jsii.String("wss://"+d.Name))
		output("CustomDomainTarget", "Point the domain's DNS (CNAME or alias) here", c.DomainName().RegionalDomainName())
	}
	output("WebSocketURL", "Clients connect here (wss://)", c.WebSocketURL())
	output("CallbackURL", "The @connections management endpoint the handlers post to", c.CallbackURL())
	output("TableName", "The chat table", c.Table().TableName())
	output("PublishURL", "Backends publish here with SigV4 (docs/publish.md; PUBLISH_URL for make publish)", c.PublishURL())
	output("WebSocketApiId", "The WebSocket API (wschatcdk.ChatAttributes.WebSocketAPIID)", c.WebSocketAPI().ApiId())
	output("PublishApiId", "The publish API (wschatcdk.ChatAttributes.PublishAPIID)", c.PublishAPI().ApiId())
	if pool := c.UserPool(); pool != nil {
		output("UserPoolId", "", pool.UserPoolId())
		output("UserPoolClientId", "", c.UserPoolClient().UserPoolClientId())
	}
}
