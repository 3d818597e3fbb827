package protocol

// Echo returns the channel and clientId of a decoded request (empty when
// the action has none), for the error frame that answers it.
func Echo(r Request) (channel, clientID string) {
	switch r := r.(type) {
	case *Join:
		return r.Channel, ""
	case *Leave:
		return r.Channel, ""
	case *Send:
		return r.Channel, r.ClientID
	case *History:
		return r.Channel, ""
	case *Members:
		return r.Channel, ""
	}
	return "", ""
}
