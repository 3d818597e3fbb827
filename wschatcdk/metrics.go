package wschatcdk

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// ChatMetrics are the figures the layer's dashboard draws, for alarms and
// dashboards of the app's own. Each takes options that override its
// defaults (props may be nil): a five-minute Sum for counts, p99 for the
// fan-out duration, the five-minute Maximum for the queues. The Lambda
// functions' and the table's own metrics are on their L2 constructs
// (Chat.Functions, Chat.Table).
type ChatMetrics interface {
	// MetricConnects counts the WebSocket connections opened (API Gateway
	// ConnectCount of the stage).
	MetricConnects(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	// MetricMessages counts the frames the stage received and sent
	// (MessageCount), API Gateway's unit of billing.
	MetricMessages(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	// MetricIntegrationErrors counts the requests whose function failed
	// (IntegrationError); MetricClientErrors those API Gateway refused
	// (ClientError: 4xx, throttling); MetricExecutionErrors those it failed
	// to run (ExecutionError).
	MetricIntegrationErrors(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	MetricClientErrors(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	MetricExecutionErrors(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	// MetricMessagesAccepted counts the messages stored and fanned out;
	// MetricRateLimited the requests refused by a rate limit.
	MetricMessagesAccepted(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	MetricRateLimited(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	// MetricDeliveries counts the frames posted to members; MetricGone the
	// posts to connections that had gone (cleaned up); MetricFanoutFailed
	// the deliveries that failed after retries.
	MetricDeliveries(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	MetricGone(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	MetricFanoutFailed(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	// MetricFanoutDuration is how long one broadcast took, in milliseconds.
	MetricFanoutDuration(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	// MetricFanoutTasks counts the tasks large channels' broadcasts were
	// split into; MetricFanoutThrottled the posts answered 429.
	MetricFanoutTasks(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	MetricFanoutThrottled(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	// MetricFanoutQueueAge is the age of the oldest fan-out task, in
	// seconds; MetricFanoutDeadLetters the tasks in the dead-letter queue.
	MetricFanoutQueueAge(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
	MetricFanoutDeadLetters(props *awscloudwatch.MetricOptions) awscloudwatch.Metric
}

// MetricsNamespace is the CloudWatch namespace where the handlers of the
// layer named name (ChatProps.Name) publish their metrics.
func MetricsNamespace(name string) string { return "WsChat/" + name }

// chatMetrics builds the metrics of one layer.
type chatMetrics struct {
	stage       awsapigatewayv2.WebSocketStage
	queue, dlq  awssqs.Queue
	namespace   string
	fiveMinutes awscdk.Duration
}

func (s *layer) metrics() *chatMetrics {
	return &chatMetrics{
		stage: s.API.Stage, queue: s.FanoutQueue.Queue, dlq: s.FanoutQueue.DeadLetters,
		namespace: MetricsNamespace(s.Config.Name), fiveMinutes: awscdk.Duration_Minutes(jsii.Number(5)),
	}
}

// with applies the caller's options over a metric's defaults.
func with(m awscloudwatch.Metric, props *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	if props == nil {
		return m
	}
	return m.With(props)
}

// stageSum is a five-minute sum of one of the stage's API Gateway metrics.
func (m *chatMetrics) stageSum(name string, props *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return with(m.stage.Metric(jsii.String(name), &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: m.fiveMinutes}), props)
}

// custom is one of the metrics the handlers publish (contract.Metric*).
func (m *chatMetrics) custom(name, statistic string, props *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return with(awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(m.namespace), MetricName: jsii.String(name), Statistic: jsii.String(statistic), Period: m.fiveMinutes,
	}), props)
}

func (m *chatMetrics) maximum() *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: m.fiveMinutes}
}

func (m *chatMetrics) MetricConnects(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.stageSum("ConnectCount", p)
}

func (m *chatMetrics) MetricMessages(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.stageSum("MessageCount", p)
}

func (m *chatMetrics) MetricIntegrationErrors(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.stageSum("IntegrationError", p)
}

func (m *chatMetrics) MetricClientErrors(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.stageSum("ClientError", p)
}

func (m *chatMetrics) MetricExecutionErrors(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.stageSum("ExecutionError", p)
}

func (m *chatMetrics) MetricMessagesAccepted(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.custom(contract.MetricMessagesAccepted, "Sum", p)
}

func (m *chatMetrics) MetricRateLimited(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.custom(contract.MetricRateLimited, "Sum", p)
}

func (m *chatMetrics) MetricDeliveries(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.custom(contract.MetricDeliveries, "Sum", p)
}

func (m *chatMetrics) MetricGone(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.custom(contract.MetricGone, "Sum", p)
}

func (m *chatMetrics) MetricFanoutFailed(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.custom(contract.MetricFanoutFailed, "Sum", p)
}

func (m *chatMetrics) MetricFanoutDuration(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.custom(contract.MetricFanoutDuration, "p99", p)
}

func (m *chatMetrics) MetricFanoutTasks(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.custom(contract.MetricFanoutTasks, "Sum", p)
}

func (m *chatMetrics) MetricFanoutThrottled(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return m.custom(contract.MetricFanoutThrottled, "Sum", p)
}

func (m *chatMetrics) MetricFanoutQueueAge(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return with(m.queue.MetricApproximateAgeOfOldestMessage(m.maximum()), p)
}

func (m *chatMetrics) MetricFanoutDeadLetters(p *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return with(m.dlq.MetricApproximateNumberOfMessagesVisible(m.maximum()), p)
}
