// Command webhooks is the Lambda function that consumes the webhooks queue
// (an SQS event source mapping with ReportBatchItemFailures), which the
// event bus's webhook rules feed: it POSTs each event to its webhook's URL,
// signed with the webhook's secret (Standard Webhooks). It only wires
// configuration, clients and logging; the logic is in internal/handler
// (Webhooks).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wschat/wschat/internal/compose"
)

func main() {
	h, err := compose.NewWebhooks(os.Getenv, os.Stdout)
	if err != nil {
		// Fail the init: Lambda reports it and refuses every invocation.
		fmt.Fprintln(os.Stderr, "webhooks:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
