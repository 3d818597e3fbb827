package compose

import (
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/eventbus"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/hook"
	"github.com/wschat/wschat/internal/integrations"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/secrets"
	"github.com/wschat/wschat/wire/events"
)

// NewEvents builds the events function's handler: the bus from
// WSCHAT_EVENT_BUS and WSCHAT_EVENT_SOURCE (AWS_ENDPOINT_URL_EVENTS, which
// the local emulator sets, overrides EventBridge's endpoint), the text
// switch, the logger and metrics. The stream's records carry the items;
// with WSCHAT_TABLE_NAME set it also reads the one item that names a
// lifecycle change (an edit, delete, reaction or reply; dynamo.ResolveApplied).
func NewEvents(getenv func(string) string, stdout io.Writer) (*integrations.Forwarder, error) {
	log, err := logging.New(stdout, getenv(contract.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvLogLevel, err)
	}
	cfg, err := integrations.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	bus := getenv(contract.EnvEventBus)
	if bus == "" {
		return nil, fmt.Errorf("%s is not set", contract.EnvEventBus)
	}
	source := getenv(contract.EnvEventSource)
	if source == "" {
		source = events.DefaultSource
	}
	awsCfg, err := lambdaAWSConfig(getenv)
	if err != nil {
		return nil, err
	}
	client := eventbus.NewClient(awsCfg, firstSet(getenv, "AWS_ENDPOINT_URL_EVENTS", "AWS_ENDPOINT_URL"))
	meter := metrics.New(stdout, getenv(contract.EnvMetricsNamespace))
	f := integrations.New(cfg, eventbus.New(client, bus, source), log, meter)
	// The lifecycle's changes (edits, deletes, reactions, replies) are
	// named by the stream item their message's write points at: one
	// consistent read of the table each.
	if table := getenv(contract.EnvTableName); table != "" {
		db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
			o.Retryer = DynamoRetryer()
			if ep := firstSet(getenv, "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"); ep != "" {
				o.BaseEndpoint = aws.String(ep)
			}
		})
		f.WithResolver(dynamo.New(db, table, dynamo.Options{}))
	}
	return f, nil
}

// NewHook reads the before-send hook's settings and, when a hook is
// configured (WSCHAT_HOOK_FUNCTION), builds its client; AWS_ENDPOINT_URL_LAMBDA,
// which the local emulator sets, overrides Lambda's endpoint. A nil Hook
// means no hook.
func NewHook(getenv func(string) string, base *Base) (handler.Hook, handler.HookConfig, error) {
	cfg, err := handler.HookConfigFromEnv(getenv)
	if err != nil || cfg.Function == "" {
		return nil, cfg, err
	}
	return hook.New(base.AWS, cfg.Function, firstSet(getenv, "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL")), cfg, nil
}

// NewWebhooks builds the webhooks function's handler: the webhooks from
// WSCHAT_WEBHOOKS, their secrets read through Secrets Manager
// (AWS_ENDPOINT_URL_SECRETS_MANAGER, which the local emulator sets,
// overrides its endpoint) and kept five minutes, the logger and metrics.
func NewWebhooks(getenv func(string) string, stdout io.Writer) (*handler.Webhooks, error) {
	log, err := logging.New(stdout, getenv(contract.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvLogLevel, err)
	}
	cfg, err := handler.WebhookConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := lambdaAWSConfig(getenv)
	if err != nil {
		return nil, err
	}
	client := secrets.NewClient(awsCfg, firstSet(getenv, "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"))
	meter := metrics.New(stdout, getenv(contract.EnvMetricsNamespace))
	return handler.NewWebhooks(cfg, secrets.New(client, 0), log, meter), nil
}
