package protocol

import "github.com/wschat/wschat/wire"

// Server event types and events: the wire contract's.
const (
	TypeJoined  = wire.TypeJoined
	TypeLeft    = wire.TypeLeft
	TypeMessage = wire.TypeMessage
	TypeAck     = wire.TypeAck
	TypeHistory = wire.TypeHistory
	TypeMembers = wire.TypeMembers
	TypePong    = wire.TypePong
	TypeError   = wire.TypeError
	TypeNotice  = wire.TypeNotice

	TypeReauthed = wire.TypeReauthed
	TypeDirect   = wire.TypeDirect
	TypeRemoved  = wire.TypeRemoved
)

type (
	Event       = wire.Event
	Joined      = wire.Joined
	Left        = wire.Left
	Entry       = wire.Entry
	Message     = wire.Message
	Notice      = wire.Notice
	Ack         = wire.Ack
	HistoryPage = wire.HistoryPage
	Member      = wire.Member
	MembersPage = wire.MembersPage
	Pong        = wire.Pong
	ErrorEvent  = wire.ErrorEvent
	Reauthed    = wire.Reauthed
	Direct      = wire.Direct
	Removed     = wire.Removed
)

// Encode returns the frame for e.
func Encode(e Event) ([]byte, error) { return wire.Encode(e) }
