// Command connect is the Lambda function of the WebSocket $connect route. It
// only wires configuration, clients and logging; the logic is in package handler.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wschat/wschat/internal/compose"
	"github.com/wschat/wschat/internal/connections"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/metrics"
)

func main() {
	h, err := newHandler(os.Getenv, os.Stdout)
	if err != nil {
		// Fail the init: Lambda reports it and refuses every invocation.
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler builds the handler once per process. $connect writes the
// connection item; its @connections client only closes the connection a
// reconnecting client replaces (DELETE).
func newHandler(getenv func(string) string, stdout io.Writer) (*handler.Connect, error) {
	b, err := compose.NewBase(getenv, stdout)
	if err != nil {
		return nil, err
	}
	callback := getenv(contract.EnvCallbackURL)
	if callback == "" {
		return nil, fmt.Errorf("%s is not set", contract.EnvCallbackURL)
	}
	meter := metrics.New(stdout, getenv(contract.EnvMetricsNamespace))
	conns, err := connections.New(b.AWS, callback, connections.Options{MaxConns: 1})
	if err != nil {
		return nil, err
	}
	return handler.NewConnect(b.Config, b.Store, b.Log, meter).ReplaceWith(conns), nil
}
