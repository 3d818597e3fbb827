// Command fanout is the Lambda function that consumes the fan-out task queue
// (an SQS event source mapping with ReportBatchItemFailures): each message is
// one fanout.Task, a shard of one channel's broadcast. It only wires
// configuration, clients and logging; the logic is in internal/handler
// (Tasks) and internal/fanout (RunTask).
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
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler builds the handler once per process.
func newHandler(getenv func(string) string, stdout io.Writer) (*handler.Tasks, error) {
	p, err := compose.NewPusher(getenv, stdout)
	if err != nil {
		return nil, err
	}
	return handler.NewTasks(p.Fanout, p.Store, p.Log), nil
}
