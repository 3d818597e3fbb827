package wschatcdk

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// monitoringProps names what to watch.
type monitoringProps struct {
	Env        string
	AlarmEmail string
	// AlarmTopic, when set, is notified instead of a topic of our own.
	AlarmTopic awssns.ITopic
	Functions  map[string]*goFunction // by contract.Function* name
	// Metrics are the stage's, the handlers' and the queues'.
	Metrics *chatMetrics
	Table   awsdynamodb.Table
}

// monitoring is the alarm topic, the alarms and the dashboard.
type monitoring struct {
	constructs.Construct
	Topic     awssns.ITopic
	Alarms    []awscloudwatch.Alarm
	Dashboard awscloudwatch.Dashboard
}

// newMonitoring defines alarms on the signals that mean users are affected:
// failing or throttled functions, API Gateway failing to reach them,
// DynamoDB throttling, deliveries the fan-out could not make, and fan-out
// tasks that wait too long or failed for good.
func newMonitoring(scope constructs.Construct, id string, props monitoringProps) *monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &monitoring{Construct: c, Topic: props.AlarmTopic}
	if m.Topic == nil {
		m.Topic = newAlarmTopic(c, props.Env, props.AlarmEmail)
	}
	sig := newSignals(props)
	m.addAlarms(sig, awscloudwatchactions.NewSnsAction(m.Topic))
	m.Dashboard = newDashboard(c, sig)
	return m
}

// newAlarmTopic is the topic every alarm notifies, with an e-mail
// subscription when the environment names an address.
func newAlarmTopic(scope constructs.Construct, env, email string) awssns.Topic {
	// CloudWatch cannot publish to a topic encrypted with the AWS managed
	// aws/sns key, so the topic has its own key that lets CloudWatch use it.
	key := awskms.NewKey(scope, jsii.String("TopicKey"), &awskms.KeyProps{
		Description:       jsii.String(fmt.Sprintf("wschat %s alarm topic", env)),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
	})
	// Only this account's alarms may use the key through CloudWatch (the
	// confused-deputy guard): aws:SourceAccount, and aws:SourceArn for
	// alarms of this region and account.
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsOfThisAccount"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnLike": map[string]any{"aws:SourceArn": awscdk.Fn_Join(jsii.String(""), &[]*string{
				jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":cloudwatch:"), awscdk.Aws_REGION(),
				jsii.String(":"), awscdk.Aws_ACCOUNT_ID(), jsii.String(":alarm:*"),
			})},
		},
	}), jsii.Bool(false))
	topic := awssns.NewTopic(scope, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String(fmt.Sprintf("wschat %s alarms", env)),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if email != "" {
		sub := topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(email), nil))
		suppress(defaultChild(sub), suppression{
			id: "Serverless-SNSRedrivePolicy",
			reason: "An e-mail that cannot be delivered has nowhere useful to be redriven; every alarm also stays in CloudWatch's alarm state and history, " +
				"which the dashboard shows.",
		})
	}
	return topic
}

// signals are the metrics that the alarms and the dashboard share, each
// built once.
type signals struct {
	functions []awslambda.Function // in the order of functionNames
	*chatMetrics
	table  awsdynamodb.Table
	period awscdk.Duration
	// sum is a five-minute sum, the statistic of every count.
	sum                         *awscloudwatch.MetricOptions
	tableThrottles, tableErrors awscloudwatch.IMetric
}

// functionNames orders the functions in alarms and dashboard widgets.
var functionNames = []string{contract.FunctionAuthorizer, contract.FunctionConnect, contract.FunctionDisconnect, contract.FunctionChat,
	contract.FunctionPublish, contract.FunctionFanout}

func newSignals(props monitoringProps) *signals {
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	sig := &signals{
		chatMetrics: props.Metrics,
		table:       props.Table,
		period:      fiveMinutes,
		sum:         &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes},
	}
	for _, name := range functionNames {
		sig.functions = append(sig.functions, props.Functions[name].Function)
	}
	// The operations the handlers call (see grantTable).
	tableOps := &[]awsdynamodb.Operation{
		awsdynamodb.Operation_GET_ITEM, awsdynamodb.Operation_PUT_ITEM, awsdynamodb.Operation_UPDATE_ITEM,
		awsdynamodb.Operation_DELETE_ITEM, awsdynamodb.Operation_QUERY,
	}
	sig.tableThrottles = props.Table.MetricThrottledRequestsForOperations(&awsdynamodb.OperationsMetricOptions{
		Period: fiveMinutes, Operations: tableOps,
	})
	sig.tableErrors = props.Table.MetricSystemErrorsForOperations(&awsdynamodb.SystemErrorsForOperationsMetricOptions{
		Period: fiveMinutes, Operations: tableOps,
	})
	return sig
}

// addAlarms defines one alarm per signal that means users are affected; each
// notifies action when it fires and when it clears.
func (m *monitoring) addAlarms(sig *signals, action awscloudwatch.IAlarmAction) {
	alarm := func(id, description string, metric awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(m.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(0),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// No data means no traffic, not a failure.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		m.Alarms = append(m.Alarms, a)
	}
	for i, name := range functionNames {
		fn := sig.functions[i]
		alarm(name+"Errors", fmt.Sprintf("The %s function failed invocations (uncaught errors, timeouts, crashes).", name),
			fn.MetricErrors(sig.sum))
		alarm(name+"Throttles", fmt.Sprintf("The %s function was throttled: Lambda concurrency is exhausted.", name),
			fn.MetricThrottles(sig.sum))
	}
	alarm("ApiIntegrationErrors", "API Gateway got an error from a function integration (clients saw 'Internal server error').",
		sig.MetricIntegrationErrors(nil))
	alarm("ApiExecutionErrors", "API Gateway failed to execute requests.", sig.MetricExecutionErrors(nil))
	alarm("TableThrottles", "DynamoDB throttled reads or writes of the chat table.", sig.tableThrottles)
	alarm("FanoutFailures", "Messages could not be delivered to live connections after retries (not counting gone connections).",
		sig.MetricFanoutFailed(nil))
	m.addQueueAlarms(sig, action)
}

// FanoutQueueAgeAlarm is how old the oldest fan-out task may get, for
// FanoutQueueAgePeriods minutes in a row, before the alarm fires: a member
// of a large channel then sees messages a minute late, because the fanout
// function is failing, throttled or held at its maximum concurrency.
const (
	FanoutQueueAgeAlarm   = time.Minute
	FanoutQueueAgePeriods = 3
)

// addQueueAlarms watches the fan-out queues: tasks waiting too long, and
// any task in the dead-letter queue (a broadcast some members never got).
func (m *monitoring) addQueueAlarms(sig *signals, action awscloudwatch.IAlarmAction) {
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	latest := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: minute}
	for _, a := range []struct {
		id, description string
		metric          awscloudwatch.IMetric
		threshold       float64
		periods         int
	}{
		{"FanoutQueueAge", fmt.Sprintf("The oldest fan-out task has waited over %v: large channels get their messages late.", FanoutQueueAgeAlarm),
			sig.MetricFanoutQueueAge(latest), FanoutQueueAgeAlarm.Seconds(), FanoutQueueAgePeriods},
		{"FanoutDeadLetters", "Fan-out tasks failed every try and sit in the dead-letter queue: members of a large channel missed messages.",
			sig.MetricFanoutDeadLetters(latest), 0, 1},
	} {
		alarm := awscloudwatch.NewAlarm(m.Construct, jsii.String(a.id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(a.description),
			Metric:             a.metric,
			Threshold:          jsii.Number(a.threshold),
			EvaluationPeriods:  jsii.Number(float64(a.periods)),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// SQS stops sending a queue's metrics after hours without
			// activity: no data means an idle queue.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		alarm.AddAlarmAction(action)
		alarm.AddOkAction(action)
		m.Alarms = append(m.Alarms, alarm)
	}
}

// newDashboard shows traffic, errors, latency and capacity in three rows,
// and the fan-out queue in a fourth.
func newDashboard(scope constructs.Construct, sig *signals) awscloudwatch.Dashboard {
	d := awscloudwatch.NewDashboard(scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
	})
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(8),
		})
	}
	var errs, durations []awscloudwatch.IMetric
	for _, fn := range sig.functions {
		errs = append(errs, fn.MetricErrors(sig.sum))
		durations = append(durations, fn.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: sig.period}))
	}
	d.AddWidgets(
		graph("Connections and messages", sig.MetricConnects(nil), sig.MetricMessages(nil)),
		graph("API errors", sig.MetricIntegrationErrors(nil), sig.MetricClientErrors(nil), sig.MetricExecutionErrors(nil)),
		graph("Messages accepted / rate limited", sig.MetricMessagesAccepted(nil), sig.MetricRateLimited(nil)),
	)
	d.AddWidgets(
		graph("Deliveries", sig.MetricDeliveries(nil), sig.MetricGone(nil), sig.MetricFanoutFailed(nil)),
		graph("Fan-out duration (p99, ms)", sig.MetricFanoutDuration(nil)),
		graph("Function errors", errs...),
	)
	d.AddWidgets(
		graph("Function duration (p99)", durations...),
		graph("DynamoDB throttles", sig.tableThrottles),
		graph("DynamoDB system errors", sig.tableErrors),
		graph("DynamoDB consumed capacity", sig.table.MetricConsumedReadCapacityUnits(sig.sum), sig.table.MetricConsumedWriteCapacityUnits(sig.sum)),
	)
	d.AddWidgets(
		graph("Fan-out tasks enqueued / posts throttled (429)", sig.MetricFanoutTasks(nil), sig.MetricFanoutThrottled(nil)),
		graph("Fan-out queue: oldest task (s)", sig.MetricFanoutQueueAge(nil)),
		graph("Fan-out dead letters", sig.MetricFanoutDeadLetters(nil)),
	)
	return d
}
