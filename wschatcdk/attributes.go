package wschatcdk

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// ChatAttributes name a chat layer deployed elsewhere (another stack, app,
// or account), as its stack's outputs give them: wschat's own WsChat-<env>
// stacks output WebSocketApiId and PublishApiId.
type ChatAttributes struct {
	// WebSocketAPIID is the WebSocket API's id. Required.
	WebSocketAPIID string
	// PublishAPIID is the publish HTTP API's id. Required.
	PublishAPIID string
	// StageName is the stage of both APIs. Default: "live".
	StageName string
	// Region and Account are where the layer is. Default: the importing
	// stack's.
	Region, Account string
}

// importedChat is a layer known by its attributes.
type importedChat struct {
	constructs.Construct
	attrs ChatAttributes
}

// FromChatAttributes imports an existing chat layer, so a stack of another
// app can publish to it (GrantPublish, PublishURL), manage who may use
// what (GrantManageAccess) or manage its connections without a cross-stack reference. It creates no resource.
// Missing required attributes panic with an error naming them.
func FromChatAttributes(scope constructs.Construct, id *string, attrs *ChatAttributes) IChat {
	var a ChatAttributes
	if attrs != nil {
		a = *attrs
	}
	var missing []string
	if a.WebSocketAPIID == "" {
		missing = append(missing, "WebSocketAPIID")
	}
	if a.PublishAPIID == "" {
		missing = append(missing, "PublishAPIID")
	}
	if len(missing) > 0 {
		panic(fmt.Errorf("wschatcdk: FromChatAttributes: ChatAttributes.%v required", missing))
	}
	if a.StageName == "" {
		a.StageName = defaultStageName
	} else if !stageNamePattern.MatchString(a.StageName) {
		panic(fmt.Errorf("wschatcdk: FromChatAttributes: ChatAttributes.StageName %q: must be 1-128 letters, digits, '-' or '_'", a.StageName))
	}
	c := &importedChat{attrs: a}
	constructs.NewConstruct_Override(c, scope, id)
	return c
}

// arn is an execute-api ARN of one of the layer's APIs.
func (c *importedChat) arn(apiID, resource string) *string {
	return awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("execute-api"),
		Resource:     jsii.String(apiID),
		ResourceName: jsii.String(c.attrs.StageName + resource),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		Region:       optional(c.attrs.Region),
		Account:      optional(c.attrs.Account),
	})
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return jsii.String(s)
}

// url is https:// (or wss://) {api}.execute-api.{region}.{suffix}/{stage}.
func (c *importedChat) url(scheme, apiID string) *string {
	region := awscdk.Stack_Of(c).Region()
	if c.attrs.Region != "" {
		region = jsii.String(c.attrs.Region)
	}
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String(scheme + "://" + apiID + ".execute-api."), region, jsii.String("."),
		awscdk.Stack_Of(c).UrlSuffix(), jsii.String("/" + c.attrs.StageName),
	})
}

func (c *importedChat) WebSocketURL() *string { return c.url("wss", c.attrs.WebSocketAPIID) }
func (c *importedChat) CallbackURL() *string  { return c.url("https", c.attrs.WebSocketAPIID) }
func (c *importedChat) PublishURL() *string   { return c.url("https", c.attrs.PublishAPIID) }

func (c *importedChat) GrantPublish(grantee awsiam.IGrantable) awsiam.Grant {
	return c.grantRoutes(grantee, contract.PublishRoutes, publishGrantReason)
}

func (c *importedChat) GrantManageAccess(grantee awsiam.IGrantable) awsiam.Grant {
	return c.grantRoutes(grantee, contract.AccessRoutes, accessGrantReason)
}

// grantRoutes grants execute-api:Invoke on exactly the publish API's
// routes keys of the stage.
func (c *importedChat) grantRoutes(grantee awsiam.IGrantable, keys []string, reason string) awsiam.Grant {
	var arns []*string
	for _, r := range publishRouteResources(keys) {
		arns = append(arns, c.arn(c.attrs.PublishAPIID, r))
	}
	grant := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee, Actions: jsii.Strings("execute-api:Invoke"), ResourceArns: &arns,
	})
	suppressPublishGrant(grantee, c.attrs.PublishAPIID, c.attrs.StageName, keys, reason)
	return grant
}

func (c *importedChat) GrantManageConnections(grantee awsiam.IGrantable) awsiam.Grant {
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:ManageConnections"),
		ResourceArns: &[]*string{c.arn(c.attrs.WebSocketAPIID, "/*/@connections/*")},
	})
}
