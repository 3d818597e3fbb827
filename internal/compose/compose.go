// Package compose is the composition root of the runtime Lambda functions:
// it builds what they share — logger, store, @connections client, fan-out,
// metrics — from the environment, once per process and outside the request
// path. The lambdas/ mains call it and pass what it built to the handler
// constructors of internal/handler; nothing else constructs adapters, so the
// functions cannot drift apart in how they read their configuration.
//
// It also states, at compile time, that each adapter satisfies the
// interfaces of internal/handler it is wired into (see assert.go).
package compose

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/connections"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/queue"
)

// Base is what every runtime function needs.
type Base struct {
	Log    *slog.Logger
	Store  *dynamo.Store
	AWS    aws.Config
	Config handler.Config
}

// NewBase reads the log level, the table name and the chat settings, and
// builds the DynamoDB client (AWS_ENDPOINT_URL_DYNAMODB, which the local
// emulator sets, overrides its endpoint).
func NewBase(getenv func(string) string, stdout io.Writer) (*Base, error) {
	log, err := logging.New(stdout, getenv(contract.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvLogLevel, err)
	}
	cfg, err := handler.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	table := getenv(contract.EnvTableName)
	if table == "" {
		return nil, fmt.Errorf("%s is not set", contract.EnvTableName)
	}
	awsCfg, err := lambdaAWSConfig(getenv)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.Retryer = DynamoRetryer()
		if ep := firstSet(getenv, "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	// Counters live as long as history, and a day more (dynamo/counter.go).
	store := dynamo.New(db, table, dynamo.Options{CounterLife: cfg.HistoryRetention + dynamo.ChannelGrace})
	return &Base{Log: log, Store: store, AWS: awsCfg, Config: cfg}, nil
}

// DynamoDB retries, chosen for the fan-out's load: up to 128 workers of one
// invocation share one client, and a burst of 410s makes each of them delete
// a gone connection's items at once.
const (
	DynamoMaxAttempts = 5
	DynamoMaxBackoff  = 500 * time.Millisecond
)

// DynamoRetryer is the DynamoDB client's retryer: the SDK's standard one
// (exponential backoff with full jitter, retrying throttling and 5xx) with
// its client-side retry quota turned off. That quota is a bucket of 500
// tokens per client, 5 per retry: 100 concurrent retries empty it, and every
// further retryable error fails at once with "retry quota exceeded" instead
// of being retried (aws/aws-sdk-go-v2#1665), which under 100% failures also
// skips the backoff (#3413). One invocation's concurrency is already bounded
// by its worker pool and its deadline, so the attempts and the backoff cap
// bound the retries instead.
func DynamoRetryer() aws.Retryer {
	return quotaFreeRetryer(DynamoMaxAttempts, DynamoMaxBackoff)
}

// SQS retries of the task queue's sends: one spread send makes up to 26
// batch calls at once, and must not fail for want of retry tokens either.
const (
	SQSMaxAttempts = 5
	SQSMaxBackoff  = time.Second
)

// quotaFreeRetryer is the SDK's standard retryer without its client-side
// retry quota (see DynamoRetryer).
func quotaFreeRetryer(attempts int, maxBackoff time.Duration) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.RateLimiter = ratelimit.None
		o.MaxAttempts = attempts
		o.MaxBackoff = maxBackoff
	})
}

// Pusher is a Base that also pushes frames to connections.
type Pusher struct {
	*Base
	Meter  *metrics.Emitter
	Fanout *fanout.Fanout
	// Broadcaster is what sends and publishes broadcast with: the Fanout,
	// or with a task queue configured (WSCHAT_FANOUT_QUEUE_URL) a Spreader
	// that hands channels above WSCHAT_FANOUT_THRESHOLD to the queue.
	Broadcaster chat.Broadcaster
	// Conns is the @connections client the fan-out posts through, for what
	// is not a post (closing a connection: the chat function's limits and
	// the publish function's disconnect).
	Conns *connections.Client
}

// NewPusher is NewBase plus the fan-out settings and the @connections client
// for WSCHAT_CALLBACK_URL.
func NewPusher(getenv func(string) string, stdout io.Writer) (*Pusher, error) {
	base, err := NewBase(getenv, stdout)
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
	spread, err := fanout.SpreadConfigFromEnv(getenv, base.Config.SendBudget)
	if err != nil {
		return nil, err
	}
	meter := metrics.New(stdout, getenv(contract.EnvMetricsNamespace))
	conns, err := connections.New(base.AWS, callback, connections.Options{MaxConns: fcfg.Workers})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvCallbackURL, err)
	}
	f := fanout.New(base.Store, conns, fcfg, base.Log, meter)
	p := &Pusher{Base: base, Meter: meter, Fanout: f, Broadcaster: f, Conns: conns}
	if spread.QueueURL != "" {
		qcfg := base.AWS.Copy()
		qcfg.Retryer = func() aws.Retryer { return quotaFreeRetryer(SQSMaxAttempts, SQSMaxBackoff) }
		q := queue.New(qcfg, spread.QueueURL, firstSet(getenv, "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL"))
		p.Broadcaster = fanout.NewSpreader(f, base.Store, q, spread.Threshold)
	}
	return p, nil
}

// lambdaAWSConfig is the SDK configuration from the variables the Lambda
// runtime sets (AWS_REGION and the function role's AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), which is where the SDK's default
// chain finds them in Lambda too. config.LoadDefaultConfig would link SSO,
// STS, IMDS and shared-file loaders that a function never uses: about 1 MB of
// every zipped handler, paid on each cold start.
func lambdaAWSConfig(getenv func(string) string) (aws.Config, error) {
	region := firstSet(getenv, "AWS_REGION", "AWS_DEFAULT_REGION")
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if region == "" || key == "" || secret == "" {
		return aws.Config{}, errors.New("AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (Lambda and the local emulator set them)")
	}
	return aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN"))),
	}, nil
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}
