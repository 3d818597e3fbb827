// Command expiry is the Lambda function that closes connections whose token
// has expired (plus the grace), idle ones included, on a schedule
// (contract.ExpirySchedule, an EventBridge rule). It only wires
// configuration, clients and logging; the logic is in package handler
// (Expiry).
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
		fmt.Fprintln(os.Stderr, "expiry:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler builds the handler once per process: the store (the expiry
// index and the connections), and the @connections client that tells a
// connection why it is closed (through the fan-out's retries) and closes it.
func newHandler(getenv func(string) string, stdout io.Writer) (*handler.Expiry, error) {
	p, err := compose.NewPusher(getenv, stdout)
	if err != nil {
		return nil, err
	}
	return handler.NewExpiry(p.Store, p.Fanout, p.Conns, p.Log, p.Meter), nil
}
