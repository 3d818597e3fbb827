package chatstack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"wschat/internal/contract"
)

// MonitoringProps names what to watch.
type MonitoringProps struct {
	Env        string
	AlarmEmail string
	Functions  map[string]*GoFunction // by contract.Function* name
	API        *ChatAPI
	Table      awsdynamodb.Table
}

// Monitoring is the alarm topic, the alarms and the dashboard.
type Monitoring struct {
	constructs.Construct
	Topic     awssns.Topic
	Alarms    []awscloudwatch.Alarm
	Dashboard awscloudwatch.Dashboard
}

// MetricsNamespace is where the handlers publish their embedded metrics.
func MetricsNamespace(env string) string { return "WsChat/" + env }

// NewMonitoring defines alarms on the signals that mean users are affected:
// failing or throttled functions, API Gateway failing to reach them,
// DynamoDB throttling, and deliveries the fan-out could not make.
func NewMonitoring(scope constructs.Construct, id string, props MonitoringProps) *Monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{Construct: c}

	// CloudWatch cannot publish to a topic encrypted with the AWS managed
	// aws/sns key, so the topic has its own key that lets CloudWatch use it.
	key := awskms.NewKey(c, jsii.String("TopicKey"), &awskms.KeyProps{
		Description:       jsii.String(fmt.Sprintf("wschat %s alarm topic", props.Env)),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
	})
	key.Grant(awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil),
		jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey*"))
	m.Topic = awssns.NewTopic(c, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String(fmt.Sprintf("wschat %s alarms", props.Env)),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if props.AlarmEmail != "" {
		sub := m.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(props.AlarmEmail), nil))
		suppress(defaultChild(sub), suppression{
			id: "Serverless-SNSRedrivePolicy",
			reason: "An e-mail that cannot be delivered has nowhere useful to be redriven; every alarm also stays in CloudWatch's alarm state and history, " +
				"which the dashboard shows.",
		})
	}
	action := awscloudwatchactions.NewSnsAction(m.Topic)

	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(c, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// No data means no traffic, not a failure.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		m.Alarms = append(m.Alarms, a)
	}

	names := []string{contract.FunctionAuthorizer, contract.FunctionConnect, contract.FunctionDisconnect, contract.FunctionChat}
	for _, name := range names {
		fn := props.Functions[name].Function
		alarm(name+"Errors", fmt.Sprintf("The %s function failed invocations (uncaught errors, timeouts, crashes).", name),
			fn.MetricErrors(sum), 0)
		alarm(name+"Throttles", fmt.Sprintf("The %s function was throttled: Lambda concurrency is exhausted.", name),
			fn.MetricThrottles(sum), 0)
	}
	stage := props.API.Stage
	alarm("ApiIntegrationErrors", "API Gateway got an error from a function integration (clients saw 'Internal server error').",
		stage.Metric(jsii.String("IntegrationError"), sum), 0)
	alarm("ApiExecutionErrors", "API Gateway failed to execute requests.",
		stage.Metric(jsii.String("ExecutionError"), sum), 0)
	// The operations the handlers call (see grantTable).
	tableOps := &[]awsdynamodb.Operation{
		awsdynamodb.Operation_GET_ITEM, awsdynamodb.Operation_PUT_ITEM, awsdynamodb.Operation_UPDATE_ITEM,
		awsdynamodb.Operation_DELETE_ITEM, awsdynamodb.Operation_QUERY,
	}
	tableThrottles := props.Table.MetricThrottledRequestsForOperations(&awsdynamodb.OperationsMetricOptions{
		Period: fiveMinutes, Operations: tableOps,
	})
	tableErrors := props.Table.MetricSystemErrorsForOperations(&awsdynamodb.SystemErrorsForOperationsMetricOptions{
		Period: fiveMinutes, Operations: tableOps,
	})
	alarm("TableThrottles", "DynamoDB throttled reads or writes of the chat table.", tableThrottles, 0)
	ns := MetricsNamespace(props.Env)
	custom := func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(ns), MetricName: jsii.String(name), Statistic: jsii.String("Sum"), Period: fiveMinutes,
		})
	}
	alarm("FanoutFailures", "Messages could not be delivered to live connections after retries (not counting gone connections).",
		custom(contract.MetricFanoutFailed), 0)

	m.Dashboard = awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
	})
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(8),
		})
	}
	var errs, durations []awscloudwatch.IMetric
	for _, name := range names {
		fn := props.Functions[name].Function
		errs = append(errs, fn.MetricErrors(sum))
		durations = append(durations, fn.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: fiveMinutes}))
	}
	m.Dashboard.AddWidgets(
		graph("Connections and messages", stage.Metric(jsii.String("ConnectCount"), sum), stage.Metric(jsii.String("MessageCount"), sum)),
		graph("API errors", stage.Metric(jsii.String("IntegrationError"), sum), stage.Metric(jsii.String("ClientError"), sum),
			stage.Metric(jsii.String("ExecutionError"), sum)),
		graph("Messages accepted / rate limited", custom(contract.MetricMessagesAccepted), custom(contract.MetricRateLimited)),
	)
	m.Dashboard.AddWidgets(
		graph("Deliveries", custom(contract.MetricDeliveries), custom(contract.MetricGone), custom(contract.MetricFanoutFailed)),
		graph("Fan-out duration (p99, ms)", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(ns), MetricName: jsii.String(contract.MetricFanoutDuration), Statistic: jsii.String("p99"), Period: fiveMinutes,
		})),
		graph("Function errors", errs...),
	)
	m.Dashboard.AddWidgets(
		graph("Function duration (p99)", durations...),
		graph("DynamoDB throttles", tableThrottles),
		graph("DynamoDB system errors", tableErrors),
		graph("DynamoDB consumed capacity", props.Table.MetricConsumedReadCapacityUnits(sum), props.Table.MetricConsumedWriteCapacityUnits(sum)),
	)
	return m
}
