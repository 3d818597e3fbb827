package protocol

import "github.com/wschat/wschat/wire"

// Echo returns the channel and clientId of a decoded request (empty when
// the action has none), for the error frame that answers it.
func Echo(r Request) (channel, clientID string) {
	channel, clientID, _ = wire.Echo(r)
	return channel, clientID
}
