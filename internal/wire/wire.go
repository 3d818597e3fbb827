// Package wire builds the dependencies the runtime Lambda functions share —
// logger, store, @connections client, fan-out, metrics — from the
// environment, once per process and outside the request path. The mains in
// lambdas/ call it, so the three functions cannot drift apart in how they
// read their configuration.
package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"wschat/internal/chat"
	"wschat/internal/connections"
	"wschat/internal/contract"
	"wschat/internal/dynamo"
	"wschat/internal/fanout"
	"wschat/internal/metrics"
)

// Base is what every runtime function needs.
type Base struct {
	Log    *slog.Logger
	Store  *dynamo.Store
	AWS    aws.Config
	Config chat.Config
}

// NewBase reads the log level, the table name and the chat settings, and
// loads the AWS configuration (AWS_ENDPOINT_URL_DYNAMODB, set by the local
// emulator, is honoured by the SDK's loader).
func NewBase(ctx context.Context, getenv func(string) string, stdout io.Writer) (*Base, error) {
	log, err := chat.NewLogger(stdout, getenv(contract.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvLogLevel, err)
	}
	cfg, err := chat.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
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
	return &Base{Log: log, Store: store, AWS: awsCfg, Config: cfg}, nil
}

// Pusher is a Base that also pushes frames to connections.
type Pusher struct {
	*Base
	Meter  *metrics.Emitter
	Fanout *fanout.Fanout
}

// NewPusher is NewBase plus the fan-out settings and the @connections client
// for WSCHAT_CALLBACK_URL.
func NewPusher(ctx context.Context, getenv func(string) string, stdout io.Writer) (*Pusher, error) {
	base, err := NewBase(ctx, getenv, stdout)
	if err != nil {
		return nil, err
	}
	fcfg, err := fanout.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	callback := getenv(contract.EnvCallbackURL)
	if callback == "" {
		return nil, fmt.Errorf("%s is not set", contract.EnvCallbackURL)
	}
	meter := metrics.New(stdout, getenv(contract.EnvMetricsNamespace))
	conns := connections.New(base.AWS, callback, connections.Options{MaxConns: fcfg.Workers})
	return &Pusher{Base: base, Meter: meter, Fanout: fanout.New(base.Store, conns, fcfg, base.Log, meter)}, nil
}
