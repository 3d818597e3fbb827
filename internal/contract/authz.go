package contract

// Names of the authorization that keeps up with a live connection (issue
// #21, docs/auth.md): token expiry and renewal, revocation, private channels
// and direct messages.

import "github.com/wschat/wschat/wire"

// Environment variables.
const (
	// EnvTokenGrace is how long after its token's exp a connection may still
	// be used (a Go duration, default 60s): time for a client to renew with
	// reauth. Past it a request is refused (token_expired), the connection
	// closed, and broadcasts skip it.
	EnvTokenGrace = "WSCHAT_TOKEN_GRACE"
	// EnvDirectMessages switches direct messages on ("on", the default) or
	// off ("off") for the environment.
	EnvDirectMessages = "WSCHAT_DIRECT_MESSAGES"
)

// Keys of the authorizer context beside the identity: the token's exp and
// iat, as decimal epoch seconds (API Gateway passes context values as
// strings). Absent for a token without the claim.
const (
	AuthContextExpires  = "exp"
	AuthContextIssuedAt = "iat"
)

// The publish API's routes that manage who may use what (private
// channels' member lists, revocation) are the wire contract's. The stack
// declares them beside PublishRoutes; GrantManageAccess grants exactly these.
const (
	PublishRoutePrivateChannel = wire.PublishRoutePrivateChannel
	PublishRouteAddMember      = wire.PublishRouteAddMember
	PublishRouteRemoveMember   = wire.PublishRouteRemoveMember
	PublishRouteListMembers    = wire.PublishRouteListMembers
	PublishRouteRevoke         = wire.PublishRouteRevoke
	PublishRouteModerate       = wire.PublishRouteModerate
)

// AccessRoutes lists the publish API's access-management route keys.
var AccessRoutes = wire.AccessRoutes

// FunctionExpiry is the function that closes connections whose token has
// expired, idle ones included, on a schedule.
const FunctionExpiry = "expiry"

// ExpirySchedule is how often the expiry function runs (an EventBridge
// schedule expression).
const ExpirySchedule = "rate(1 minute)"

// Metrics.
const (
	// MetricConnectionsExpired counts connections closed because their
	// token expired (by a request, or by the expiry function).
	MetricConnectionsExpired = "ConnectionsExpired"
	// MetricReauths counts accepted renewals; MetricReauthsRefused refused ones.
	MetricReauths        = "Reauths"
	MetricReauthsRefused = "ReauthsRefused"
)
