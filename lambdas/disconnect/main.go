// Command disconnect is the Lambda function of the WebSocket $disconnect
// route. It only wires configuration, clients and logging; the logic is in
// package handler.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wschat/wschat/internal/compose"
	"github.com/wschat/wschat/internal/handler"
)

func main() {
	h, err := newHandler(os.Getenv, os.Stdout)
	if err != nil {
		// Fail the init: Lambda reports it and refuses every invocation.
		fmt.Fprintln(os.Stderr, "disconnect:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler builds the handler once per process; the fan-out tells the
// connection's channels that it left.
func newHandler(getenv func(string) string, stdout io.Writer) (*handler.Disconnect, error) {
	p, err := compose.NewPusher(getenv, stdout)
	if err != nil {
		return nil, err
	}
	// Above the presence size, a disconnect is not announced to everyone.
	left := handler.PresenceGate{Broadcaster: p.Fanout, Sizer: p.Store, Max: p.Config.PresenceMaxMembers}
	return handler.NewDisconnect(p.Store, left, p.Config.SendBudget, p.Log), nil
}
