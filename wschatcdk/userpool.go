package wschatcdk

import (
	"maps"
	"net/url"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// userPool is a Cognito user pool and the app client whose tokens $connect
// accepts, for environments that do not point at an existing issuer.
type userPool struct {
	constructs.Construct
	Pool   awscognito.UserPool
	Client awscognito.UserPoolClient
	// Groups are the pool's groups by name (AddChannelGroups).
	Groups map[string]awscognito.UserPoolGroup
}

// newUserPool defines the pool. Sign-up is admin-only: a chat backend's
// users come from the product around it, not from strangers on the Internet.
func newUserPool(scope constructs.Construct, id string, retain bool) *userPool {
	c := constructs.NewConstruct(scope, jsii.String(id))
	pool := awscognito.NewUserPool(c, jsii.String("Pool"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Username: jsii.Bool(true), Email: jsii.Bool(true)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:        jsii.Number(12),
			RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true),
			RequireDigits:    jsii.Bool(true),
			RequireSymbols:   jsii.Bool(true),
		},
		Mfa:                awscognito.Mfa_OPTIONAL,
		MfaSecondFactor:    &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery:    awscognito.AccountRecovery_EMAIL_ONLY,
		FeaturePlan:        awscognito.FeaturePlan_ESSENTIALS,
		DeletionProtection: jsii.Bool(retain),
		RemovalPolicy:      removalPolicy(retain),
	})
	client := pool.AddClient(jsii.String("WebClient"), &awscognito.UserPoolClientOptions{
		// A browser client cannot keep a secret.
		GenerateSecret: jsii.Bool(false),
		AuthFlows:      &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		// Refuse to reveal whether a user name exists.
		PreventUserExistenceErrors: jsii.Bool(true),
		// No OAuth at all: the chat signs in with SRP (InitiateAuth) and
		// has no hosted UI. CDK's default would allow the implicit flow, a
		// placeholder https://example.com callback and every scope,
		// aws.cognito.signin.user.admin included, the day a domain exists.
		DisableOAuth: jsii.Bool(true),
		// Users may change only their locale and time zone with their own
		// access token (UpdateUserAttributes). Cognito's default is every
		// standard attribute, "name" included, and the display name comes
		// from "name" (then cognito:username, which no one can change): a
		// user could rename themselves "Orders" or a colleague. Names are
		// set by administrators (AdminUpdateUserAttributes), with IAM.
		WriteAttributes: awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{
			Locale: jsii.Bool(true), Timezone: jsii.Bool(true),
		}),
		IdTokenValidity:     awscdk.Duration_Hours(jsii.Number(1)),
		AccessTokenValidity: awscdk.Duration_Hours(jsii.Number(1)),
	})
	return &userPool{Construct: c, Pool: pool, Client: client, Groups: map[string]awscognito.UserPoolGroup{}}
}

// AddChannelGroups defines one group per entry of a group → channels
// mapping (ChatProps.GroupChannels), so the names the authorizer maps are the
// pool's groups and an administrator only adds users to them. Each group's
// description says what it grants. Membership lives in the group: a group
// dropped from the mapping is deleted, its memberships with it.
func (u *userPool) AddChannelGroups(groups map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		desc := "wschat channels: " + groups[name]
		if len(desc) > 2048 {
			desc = desc[:2045] + "..."
		}
		// The id derives from the name alone (escaped, as ids cannot hold
		// "/"), so adding a group never renames another's logical id: a
		// replacement would fail on the group name it keeps.
		u.Groups[name] = u.Pool.AddGroup(jsii.String("Group"+url.PathEscape(name)), &awscognito.UserPoolGroupOptions{
			GroupName:   jsii.String(name),
			Description: jsii.String(desc),
		})
	}
}

// Issuer is the pool's token issuer URL. Cognito issuers are always under
// amazonaws.com, also where AWS::URLSuffix differs.
func (u *userPool) Issuer() string {
	return *awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://cognito-idp."), awscdk.Aws_REGION(), jsii.String(".amazonaws.com/"), u.Pool.UserPoolId(),
	})
}
