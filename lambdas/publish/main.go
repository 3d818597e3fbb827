// Command publish is the Lambda function behind the publish HTTP API
// (POST /channels/{channel}/messages, POST /users/{userId}/messages,
// DELETE /users/{userId}/connections). It only wires configuration, clients
// and logging; the logic is in package publish.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wschat/wschat/internal/compose"
	"github.com/wschat/wschat/internal/publish"
)

func main() {
	h, err := newHandler(os.Getenv, os.Stdout)
	if err != nil {
		// Fail the init: Lambda reports it and refuses every invocation.
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler builds the handler once per process: the store, the fan-out
// (a channel message takes the same path as a WebSocket send) and the
// @connections client (notices and closes).
func newHandler(getenv func(string) string, stdout io.Writer) (*publish.Handler, error) {
	p, err := compose.NewPusher(getenv, stdout)
	if err != nil {
		return nil, err
	}
	cfg, err := publish.ConfigFromEnv(getenv, p.Config.HistoryRetention, p.Config.SendBudget)
	if err != nil {
		return nil, err
	}
	cfg.ChannelRate = p.Config.ChannelRate
	cfg.PresenceMaxMembers = p.Config.PresenceMaxMembers
	return publish.New(cfg, p.Store, p.Conns, p.Broadcaster, p.Log, p.Meter), nil
}
