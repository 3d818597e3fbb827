// Command connect is the Lambda function of the WebSocket $connect route. It
// only wires configuration, clients and logging; the logic is in package chat.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"wschat/internal/chat"
	"wschat/internal/contract"
	"wschat/internal/dynamo"
)

func main() {
	h, err := newHandler(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		// Fail the init: Lambda reports it and refuses every invocation.
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler reads the environment once per process and builds the SDK
// client once, outside the request path. AWS_ENDPOINT_URL_DYNAMODB (the local
// emulator) is honoured by the SDK's config loader.
func newHandler(ctx context.Context, getenv func(string) string, stdout io.Writer) (*chat.ConnectHandler, error) {
	log, err := chat.NewLogger(stdout, getenv(contract.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvLogLevel, err)
	}
	table := getenv(contract.EnvTableName)
	if table == "" {
		return nil, fmt.Errorf("%s is not set", contract.EnvTableName)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), table, dynamo.Options{})
	return chat.NewConnectHandler(store, log), nil
}
