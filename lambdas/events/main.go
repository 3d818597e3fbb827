// Command events is the Lambda function behind the table's stream (a
// DynamoDB stream event source mapping with filter criteria, bisection,
// retries and an on-failure queue): it puts one EventBridge event per
// stored change on the bus. It only wires configuration, clients and
// logging; the logic is in internal/integrations.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wschat/wschat/internal/compose"
)

func main() {
	h, err := compose.NewEvents(os.Getenv, os.Stdout)
	if err != nil {
		// Fail the init: Lambda reports it and refuses every invocation.
		fmt.Fprintln(os.Stderr, "events:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
