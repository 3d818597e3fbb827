// Command chat is the Lambda function of every action route (join, leave,
// send, history, members, ping) and $default: one function, so warm
// instances are shared across actions. It only wires configuration, clients
// and logging; the logic is in package chat.
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
	"wschat/internal/connections"
	"wschat/internal/contract"
	"wschat/internal/dynamo"
	"wschat/internal/fanout"
	"wschat/internal/metrics"
)

func main() {
	h, err := newHandler(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler reads the environment once per process and builds the SDK
// clients once, outside the request path. AWS_ENDPOINT_URL_DYNAMODB (the local
// emulator) is honoured by the SDK's config loader; @connections calls go to
// WSCHAT_CALLBACK_URL.
func newHandler(ctx context.Context, getenv func(string) string, stdout io.Writer) (*chat.ChatHandler, error) {
	log, err := chat.NewLogger(stdout, getenv(contract.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvLogLevel, err)
	}
	cfg, err := chat.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	fcfg, err := fanout.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	table, callback := getenv(contract.EnvTableName), getenv(contract.EnvCallbackURL)
	if table == "" || callback == "" {
		return nil, fmt.Errorf("%s and %s must be set", contract.EnvTableName, contract.EnvCallbackURL)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), table, dynamo.Options{})
	meter := metrics.New(stdout, getenv(contract.EnvMetricsNamespace))
	conns := connections.New(awsCfg, callback, connections.Options{MaxConns: fcfg.Workers})
	fan := fanout.New(store, conns, fcfg, log, meter)
	return chat.NewChatHandler(cfg, store, fan, fan, log, meter), nil
}
