// Command disconnect is the Lambda function of the WebSocket $disconnect
// route. It only wires configuration, clients and logging; the logic is in
// package chat.
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
		fmt.Fprintln(os.Stderr, "disconnect:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler reads the environment once per process and builds the SDK
// clients once, outside the request path.
func newHandler(ctx context.Context, getenv func(string) string, stdout io.Writer) (*chat.DisconnectHandler, error) {
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
	return chat.NewDisconnectHandler(store, fan, cfg.SendBudget, log), nil
}
