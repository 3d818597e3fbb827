package handler

import (
	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/protocol"
)

// channelsFromAuthorizer returns the canonical capability string the
// authorizer put in the context and whether it was there at all: a token
// without the claim has no such key, and then the environment's default
// applies.
func channelsFromAuthorizer(authorizer any) (string, bool) {
	switch a := authorizer.(type) {
	case map[string]any:
		v, ok := a[contract.AuthContextChannels].(string)
		return v, ok
	case map[string]string:
		v, ok := a[contract.AuthContextChannels]
		return v, ok
	}
	return "", false
}

// grant resolves what the connection may do: its token's capabilities, or
// defaults (Config.DefaultChannels) when the token has none. A value that
// does not parse grants nothing: the authorizer only passes canonical ones,
// so anything else is not to be trusted.
func grant(authorizer any, defaults string) chat.Capabilities {
	s, _ := channelsFromAuthorizer(authorizer)
	return capsOf(s, defaults)
}

// capsOf resolves a stored canonical capability string: "" (a token
// without a grant) means the defaults.
func capsOf(s, defaults string) chat.Capabilities {
	if s == "" {
		s = defaults
	}
	caps, err := chat.ParseCapabilities(s)
	if err != nil {
		return chat.Capabilities{}
	}
	return caps
}

// rightNames says what each right allows, for the error message.
var rightNames = map[chat.Right]string{
	chat.RightRead:     "join or read",
	chat.RightWrite:    "send to",
	chat.RightPresence: "list the members of",
}

// requireRight returns a forbidden error unless the request's capabilities
// grant right on channel.
func requireRight(rq *request, channel string, right chat.Right) error {
	if rq.Caps.Allows(channel, right) {
		return nil
	}
	return protocol.Errorf(protocol.CodeForbidden, "", "your token does not allow you to %s channel %s", rightNames[right], channel)
}
