package compose

import (
	"github.com/wschat/wschat/internal/connections"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/publish"
	"github.com/wschat/wschat/internal/queue"
)

// The adapters satisfy the interfaces of the packages they are wired into.
// These assertions live here rather than in internal/dynamo and
// internal/connections because those adapters must not import
// internal/handler (it would link aws-lambda-go's event types into the
// store) nor internal/fanout (a peer adapter); the chat.Poster and
// chat.Broadcaster assertions sit in the adapters themselves.
var (
	_ handler.ConnectStore    = (*dynamo.Store)(nil)
	_ handler.DisconnectStore = (*dynamo.Store)(nil)
	_ handler.ChatStore       = (*dynamo.Store)(nil)
	_ handler.RateLimiter     = (*dynamo.Store)(nil)
	_ handler.JoinStore       = (*dynamo.Store)(nil)
	_ handler.LeaveStore      = (*dynamo.Store)(nil)
	_ handler.SendStore       = (*dynamo.Store)(nil)
	_ handler.HistoryStore    = (*dynamo.Store)(nil)
	_ handler.MembersStore    = (*dynamo.Store)(nil)
	_ handler.MemberChecker   = (*dynamo.Store)(nil)
	_ fanout.Store            = (*dynamo.Store)(nil)
	_ fanout.Poster           = (*connections.Client)(nil)
	_ fanout.SpreadStore      = (*dynamo.Store)(nil)
	_ fanout.Queue            = (*queue.Client)(nil)
	_ fanout.ShardReader      = (*dynamo.Store)(nil)
	_ handler.Closer          = (*connections.Client)(nil)
	_ fanout.Meter            = (*metrics.Emitter)(nil)
	_ handler.Meter           = (*metrics.Emitter)(nil)
	_ handler.MessageStore    = (*dynamo.Store)(nil)
	_ publish.Store           = (*dynamo.Store)(nil)
	_ handler.ReauthStore     = (*dynamo.Store)(nil)
	_ handler.DirectStore     = (*dynamo.Store)(nil)
	_ handler.ExpiryStore     = (*dynamo.Store)(nil)
	_ handler.EvictStore      = (*dynamo.Store)(nil)
	_ publish.Connections     = (*connections.Client)(nil)
)
