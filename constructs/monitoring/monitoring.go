// Package monitoring is the L3 construct that watches the pipeline: one CloudWatch dashboard
// (API traffic and errors, Kinesis input and consumer lag, Firehose freshness and
// transformations, Lambda errors and duration, batch task failures) and alarms that publish to an
// SNS topic encrypted with its own key. Every part is optional: what is given is watched.
package monitoring

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawsevents"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Api names a REST API stage to watch.
type Api struct {
	Name  string
	Stage string
}

// Props configures a Monitoring. Name is required; the maps are keyed by the label shown on the
// dashboard.
type Props struct {
	// Name of the monitoring (letters, digits, - and _): the dashboard's name unless
	// DashboardName is set, and the alarm topic's display name.
	Name string
	// DashboardName, when set, names the dashboard instead of Name. CloudWatch dashboard names
	// are account-wide, not regional: a name deployed to several regions must hold the region
	// (it may be a deploy-time value).
	DashboardName *string
	// TopicName of the alarm topic (letters, digits, - and _; unique in the account and region).
	// Default Name + "-alarms". It is explicit because the key policy names the topic's ARN,
	// which the topic's own reference to the key would otherwise make circular.
	TopicName string
	// Api, when set, is watched for requests, 4xx, 5xx and latency; 5xx alarm.
	Api *Api
	// Streams are watched for incoming records and iterator age; iterator age alarms.
	Streams map[string]awskinesis.IStream
	// DeliveryStreams (names) are watched for data freshness and transformation success; both alarm.
	DeliveryStreams map[string]*string
	// Functions are watched for errors and duration; errors alarm.
	Functions map[string]awslambda.IFunction
	// EcsClusterArn, when set: tasks of this cluster that stop with a non-zero exit code or fail
	// to start are published to the topic and counted on the dashboard.
	EcsClusterArn *string
	// StateMachineArn, when set: executions of this state machine that fail, time out or are
	// aborted are published to the topic and counted on the dashboard.
	StateMachineArn *string
	// AlarmEmail, when set, is subscribed to the topic (the address confirms by mail).
	AlarmEmail string
	// MaxIteratorAge before a stream's consumer is considered stuck. Default 10 minutes.
	MaxIteratorAge awscdk.Duration
	// MaxFreshness: oldest record not yet in its table before alarming. Default 15 minutes.
	MaxFreshness awscdk.Duration
}

// Monitoring is the dashboard, the topic and the alarms.
type Monitoring struct {
	constructs.Construct
	Dashboard awscloudwatch.Dashboard
	Topic     awssns.Topic
	Key       awskms.Key
	Alarms    []awscloudwatch.Alarm
	// TaskFailures is the rule that matches failed batch tasks (nil without EcsClusterArn).
	TaskFailures awsevents.Rule
	// ExecutionFailures matches the state machine's failed executions (nil without
	// StateMachineArn).
	ExecutionFailures awsevents.Rule
}

var (
	dashName  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)
	topicName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,256}$`)
)

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// topicTarget sends a rule's events to an SNS topic whose policy already admits the rule.
type topicTarget struct{ topic awssns.ITopic }

func (t *topicTarget) Bind(_ interfacesawsevents.IRuleRef, _ *string) *awsevents.RuleTargetConfig {
	return &awsevents.RuleTargetConfig{Arn: t.topic.TopicArn()}
}

// New declares the dashboard, topic and alarms. Invalid props panic with a message naming the
// field, as CDK constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *Monitoring {
	if props == nil {
		panic("monitoring.Props: required")
	}
	p := *props
	if !dashName.MatchString(p.Name) {
		panic(fmt.Sprintf("monitoring.Props.Name: %q must be letters, digits, - and _", p.Name))
	}
	if p.TopicName == "" {
		p.TopicName = p.Name + "-alarms"
	}
	if !topicName.MatchString(p.TopicName) {
		panic(fmt.Sprintf("monitoring.Props.TopicName: %q must be 1 to 256 letters, digits, - and _", p.TopicName))
	}
	if p.Api != nil && (p.Api.Name == "" || p.Api.Stage == "") {
		panic("monitoring.Props.Api: Name and Stage are required")
	}
	if p.MaxIteratorAge == nil {
		p.MaxIteratorAge = awscdk.Duration_Minutes(jsii.Number(10))
	}
	if p.MaxFreshness == nil {
		p.MaxFreshness = awscdk.Duration_Minutes(jsii.Number(15))
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{Construct: c}

	// CloudWatch and EventBridge cannot publish to a topic under the AWS-managed SNS key, so the
	// topic has its own key that lets exactly those two services use it, for this topic only.
	stack := awscdk.Stack_Of(c)
	topicArn := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("sns"), Resource: jsii.String(p.TopicName), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME,
	})
	alarmArns := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"), ResourceName: jsii.String("*"),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	m.Key = awskms.NewKey(c, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the " + p.Name + " alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
	})
	// SNS asks KMS for this topic's data keys on behalf of the publisher, with the topic's ARN as
	// encryption context. CloudWatch's requests carry the alarm as aws:SourceArn and this
	// account as aws:SourceAccount; EventBridge's do not carry those keys (the SNS developer
	// guide says they are not supported for EventBridge on an encrypted topic), so its statement
	// is bound to the topic by the encryption context alone.
	m.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"), // in a key policy, "*" is this key
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{
				"aws:SourceAccount":                      stack.Account(),
				"kms:EncryptionContext:aws:sns:topicArn": topicArn,
			},
			"ArnLike": map[string]interface{}{"aws:SourceArn": alarmArns},
		},
	}), jsii.Bool(false))
	if p.EcsClusterArn != nil || p.StateMachineArn != nil {
		m.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"kms:EncryptionContext:aws:sns:topicArn": topicArn},
			},
		}), jsii.Bool(false))
	}
	m.Topic = awssns.NewTopic(c, jsii.String("Alarms"), &awssns.TopicProps{
		TopicName:   jsii.String(p.TopicName),
		DisplayName: jsii.String(p.Name + " alarms"),
		MasterKey:   m.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic has a policy of its own (TLS only), which replaces SNS's default one: say
	// explicitly that this account's alarms may publish.
	allowPublish := func(service, arnOperator string, sourceArn interface{}) {
		m.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String(service), nil)},
			Actions:    jsii.Strings("sns:Publish"),
			Resources:  &[]*string{m.Topic.TopicArn()},
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
				arnOperator:    map[string]interface{}{"aws:SourceArn": sourceArn},
			},
		}))
	}
	allowPublish("cloudwatch.amazonaws.com", "ArnLike", alarmArns)
	if p.AlarmEmail != "" {
		m.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(m.Topic)
	alarm := func(id, what string, metric awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator) {
		a := awscloudwatch.NewAlarm(c, jsii.String(id), &awscloudwatch.AlarmProps{
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(1),
			AlarmDescription:   jsii.String(what),
			// No data means no traffic (the pipeline is idle), not a fault.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		m.Alarms = append(m.Alarms, a)
	}
	five := awscdk.Duration_Minutes(jsii.Number(5))
	metric := func(ns, name, stat string, dims map[string]*string, label string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(ns), MetricName: jsii.String(name), Statistic: jsii.String(stat),
			DimensionsMap: &dims, Period: five, Label: jsii.String(label),
		})
	}
	graph := func(title string, left, right []awscloudwatch.IMetric) awscloudwatch.IWidget {
		gp := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Width: jsii.Number(12), Height: jsii.Number(6), Left: &left}
		if len(right) > 0 {
			gp.Right = &right
		}
		return awscloudwatch.NewGraphWidget(gp)
	}
	var widgets []awscloudwatch.IWidget

	if a := p.Api; a != nil {
		dims := map[string]*string{"ApiName": jsii.String(a.Name), "Stage": jsii.String(a.Stage)}
		fiveXX := metric("AWS/ApiGateway", "5XXError", "Sum", dims, "5xx")
		widgets = append(widgets,
			graph("API requests and errors", []awscloudwatch.IMetric{
				metric("AWS/ApiGateway", "Count", "Sum", dims, "requests"),
				metric("AWS/ApiGateway", "4XXError", "Sum", dims, "4xx"), fiveXX,
			}, nil),
			graph("API latency (ms)", []awscloudwatch.IMetric{
				metric("AWS/ApiGateway", "Latency", "p50", dims, "p50"),
				metric("AWS/ApiGateway", "Latency", "p99", dims, "p99"),
			}, nil))
		alarm("Api5xx", "The API answered 5xx (REST proxy, Kafka or Kinesis failing)", fiveXX, 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	}

	if len(p.Streams) > 0 {
		var in, age []awscloudwatch.IMetric
		for _, label := range sorted(p.Streams) {
			s := p.Streams[label]
			in = append(in, s.MetricIncomingRecords(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: five, Label: jsii.String(label)}))
			ag := s.MetricGetRecordsIteratorAgeMilliseconds(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: five, Label: jsii.String(label)})
			age = append(age, ag)
			alarm("IteratorAge"+label, "Records of stream "+label+" wait unread (its consumer is stuck)", ag,
				*p.MaxIteratorAge.ToMilliseconds(nil), awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD)
		}
		widgets = append(widgets, graph("Kinesis incoming records", in, nil), graph("Kinesis iterator age (ms)", age, nil))
	}

	if len(p.DeliveryStreams) > 0 {
		var fresh, ok []awscloudwatch.IMetric
		for _, label := range sorted(p.DeliveryStreams) {
			dims := map[string]*string{"DeliveryStreamName": p.DeliveryStreams[label]}
			f := metric("AWS/Firehose", "DeliveryToIceberg.DataFreshness", "Maximum", dims, label)
			s := metric("AWS/Firehose", "ExecuteProcessing.Success", "Minimum", dims, label)
			fresh, ok = append(fresh, f), append(ok, s)
			alarm("Freshness"+label, "Records of "+label+" are not reaching their Iceberg table", f,
				*p.MaxFreshness.ToSeconds(nil), awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD)
			alarm("Transform"+label, "The cleaning Lambda failed for "+label+" (records go to the error prefix)", s,
				1, awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD)
		}
		widgets = append(widgets, graph("Firehose data freshness (s)", fresh, nil), graph("Firehose transformation success (1 = all)", ok, nil))
	}

	if len(p.Functions) > 0 {
		var errs, dur []awscloudwatch.IMetric
		for _, label := range sorted(p.Functions) {
			fn := p.Functions[label]
			e := fn.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: five, Label: jsii.String(label)})
			errs = append(errs, e)
			dur = append(dur, fn.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: five, Label: jsii.String(label)}))
			alarm("Errors"+label, "Lambda function "+label+" failed", e, 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
		}
		widgets = append(widgets, graph("Lambda errors", errs, nil), graph("Lambda duration p99 (ms)", dur, nil))
	}

	// failures publishes the events of a rule to the topic and counts them on the dashboard. The
	// topic's policy lets EventBridge publish for this rule only (aws:SourceArn, as the
	// EventBridge user guide documents for rule targets); CDK's SnsTopic target would grant
	// events.amazonaws.com without a condition.
	failures := func(id, description string, pattern *awsevents.EventPattern, label, title string) awsevents.Rule {
		rule := awsevents.NewRule(c, jsii.String(id), &awsevents.RuleProps{Description: jsii.String(description), EventPattern: pattern})
		rule.AddTarget(&topicTarget{topic: m.Topic})
		allowPublish("events.amazonaws.com", "ArnEquals", rule.RuleArn())
		count := metric("AWS/Events", "TriggeredRules", "Sum", map[string]*string{"RuleName": rule.RuleName()}, label)
		widgets = append(widgets, graph(title, []awscloudwatch.IMetric{count}, nil))
		return rule
	}
	if p.EcsClusterArn != nil {
		m.TaskFailures = failures("TaskFailures", "Batch tasks that stopped with a non-zero exit code or failed to start", &awsevents.EventPattern{
			Source:     jsii.Strings("aws.ecs"),
			DetailType: jsii.Strings("ECS Task State Change"),
			Detail: &map[string]interface{}{
				"clusterArn": []interface{}{p.EcsClusterArn},
				"lastStatus": []string{"STOPPED"},
				"$or": []interface{}{
					map[string]interface{}{"containers": map[string]interface{}{"exitCode": []interface{}{map[string]interface{}{"anything-but": 0}}}},
					map[string]interface{}{"stopCode": []string{"TaskFailedToStart"}},
				},
			},
		}, "failed tasks", "Batch task failures")
	}
	if p.StateMachineArn != nil {
		m.ExecutionFailures = failures("ExecutionFailures", "Batch state machine executions that failed, timed out or were aborted", &awsevents.EventPattern{
			Source:     jsii.Strings("aws.states"),
			DetailType: jsii.Strings("Step Functions Execution Status Change"),
			Detail: &map[string]interface{}{
				"stateMachineArn": []interface{}{p.StateMachineArn},
				"status":          []string{"FAILED", "TIMED_OUT", "ABORTED"},
			},
		}, "failed executions", "Batch state machine failures")
	}

	rows := make([]*[]awscloudwatch.IWidget, 0, (len(widgets)+1)/2)
	for i := 0; i < len(widgets); i += 2 {
		row := widgets[i:min(i+2, len(widgets))]
		rows = append(rows, &row)
	}
	dashboard := p.DashboardName
	if dashboard == nil {
		dashboard = jsii.String(p.Name)
	}
	m.Dashboard = awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: dashboard,
		Widgets:       &rows,
	})
	return m
}
