module github.com/wschat/wschat/client

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/wschat/wschat/wire v0.1.0
)

// Local development: the wire contract from this checkout. Consumers of a
// release resolve wire by its tag (wire/v0.1.0); a replace in a dependency's
// go.mod never applies to them.
replace github.com/wschat/wschat/wire => ../wire
