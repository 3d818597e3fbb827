package wire

// The publish HTTP API (docs/publish.md): request bodies and answers. Every
// route is IAM-signed; the publisher module is its Go client.

// MaxPublishBodyBytes bounds a publish request body: a 4,000-character text
// fully escaped is under 24 KB.
const MaxPublishBodyBytes = 64 * 1024

// The publish API's routes, as "METHOD /path" with {parameters}: the stack
// declares exactly these (and grants execute-api:Invoke on exactly them),
// the publish function dispatches on them, and the publisher calls them.
const (
	PublishRouteChannelMessage  = "POST /channels/{channel}/messages"
	PublishRouteUserMessage     = "POST /users/{userId}/messages"
	PublishRouteUserConnections = "DELETE /users/{userId}/connections"
)

// PublishRoutes lists the publish API's routes.
var PublishRoutes = []string{PublishRouteChannelMessage, PublishRouteUserMessage, PublishRouteUserConnections}

// Publish is the body of POST /channels/{channel}/messages.
type Publish struct {
	Text string `json:"text"`
	// ID plays a send's clientId: idempotent per channel and caller.
	ID string `json:"id"`
}

// NoticeBody is the body of POST /users/{userId}/messages.
type NoticeBody struct {
	Text string `json:"text"`
	ID   string `json:"id,omitempty"` // optional, echoed to the clients
}

// Published answers a channel publish: the message is stored as Seq. A
// retry with the same ID answers the same Seq.
type Published struct {
	Channel string `json:"channel"`
	ID      string `json:"id"`
	Seq     int64  `json:"seq"`
}

// Notified answers a user notice: the user had Connections live connections
// and Delivered of them took the notice (the rest were gone).
type Notified struct {
	UserID      string `json:"userId"`
	Connections int    `json:"connections"`
	Delivered   int    `json:"delivered"`
}

// Disconnected answers a disconnect: Closed connections were closed, Gone
// were already gone.
type Disconnected struct {
	UserID string `json:"userId"`
	Closed int    `json:"closed"`
	Gone   int    `json:"gone"`
}

// Error codes the publish API answers besides the protocol's.
const (
	// CodeNotFound: no such route.
	CodeNotFound Code = "not_found"
	// CodeUnavailable (wire.go) is shared with the protocol: a dependency
	// is temporarily unavailable; retry with the same id.
)

// ErrorBody is the body of every publish API error (4xx and 5xx): Code is
// one of the protocol's error codes, CodeNotFound or CodeUnavailable.
type ErrorBody struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}
