package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/monitoring"
	"github.com/pinpipe/pinpipe/record"
)

// MonitoringStackProps configures the monitoring stack: what to watch.
type MonitoringStackProps struct {
	awscdk.StackProps
	Config Config
	// Api is the REST API's name and stage (nil: not watched).
	Api *monitoring.Api
	// Streams by kind; DeliveryStreams (names) by kind; Functions by label.
	Streams         map[record.Kind]awskinesis.Stream
	DeliveryStreams map[record.Kind]*string
	Functions       map[string]awslambda.IFunction
	// EcsClusterArn of the batch cluster; StateMachineArn of the batch state machine (nil
	// without one).
	EcsClusterArn, StateMachineArn *string
}

// MonitoringStack is the dashboard pinpipe-<userId>-dashboard-<region> and the alarms.
type MonitoringStack struct {
	awscdk.Stack
	Monitoring *monitoring.Monitoring
}

// NewMonitoringStack declares the dashboard and its alarms.
func NewMonitoringStack(scope constructs.Construct, id string, props *MonitoringStackProps) *MonitoringStack {
	if props == nil {
		panic("stacks.MonitoringStackProps: required")
	}
	cfg := props.Config
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	streams := map[string]awskinesis.IStream{}
	for k, st := range props.Streams {
		streams[kindTitle(k)] = st
	}
	delivery := map[string]*string{}
	for k, name := range props.DeliveryStreams {
		delivery[kindTitle(k)] = name
	}
	s := &MonitoringStack{Stack: stack}
	s.Monitoring = monitoring.New(stack, "Monitoring", &monitoring.Props{
		Name:            cfg.Name("dashboard"),
		DashboardName:   cfg.GlobalName("dashboard"),
		TopicName:       cfg.Name("alarms"),
		Api:             props.Api,
		Streams:         streams,
		DeliveryStreams: delivery,
		Functions:       props.Functions,
		EcsClusterArn:   props.EcsClusterArn,
		StateMachineArn: props.StateMachineArn,
		AlarmEmail:      cfg.AlarmEmail,
	})
	awscdk.NewCfnOutput(stack, jsii.String("Dashboard"), &awscdk.CfnOutputProps{
		Value: awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("https://console.aws.amazon.com/cloudwatch/home?region="), awscdk.Aws_REGION(),
			jsii.String("#dashboards/dashboard/"), s.Monitoring.Dashboard.DashboardName(),
		}),
	})
	awscdk.NewCfnOutput(stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{Value: s.Monitoring.Topic.TopicArn()})
	return s
}
