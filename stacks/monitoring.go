package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/pinpipe/pinpipe/constructs/monitoring"
)

// MonitoringStackProps configures the monitoring stack: what to watch.
type MonitoringStackProps struct {
	awscdk.StackProps
	UserID string
	// Api is the REST API's name and stage (nil: not watched).
	Api *monitoring.Api
	// Streams by kind; DeliveryStreams (names) by kind; Functions by label.
	Streams         map[string]awskinesis.IStream
	DeliveryStreams map[string]*string
	Functions       map[string]awslambda.IFunction
	// EcsClusterArn of the batch cluster.
	EcsClusterArn *string
	// AlarmEmail is subscribed to the alarm topic when set.
	AlarmEmail string
}

// MonitoringStack is the dashboard and the alarms.
type MonitoringStack struct {
	awscdk.Stack
	Monitoring *monitoring.Monitoring
}

// NewMonitoringStack declares the dashboard "pinpipe-<userId>" and its alarms.
func NewMonitoringStack(scope constructs.Construct, id string, props *MonitoringStackProps) *MonitoringStack {
	if props == nil || props.UserID == "" {
		panic("stacks.MonitoringStackProps: UserID is required")
	}
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	s := &MonitoringStack{Stack: stack}
	s.Monitoring = monitoring.New(stack, "Monitoring", &monitoring.Props{
		Name:            "pinpipe-" + props.UserID,
		Api:             props.Api,
		Streams:         props.Streams,
		DeliveryStreams: props.DeliveryStreams,
		Functions:       props.Functions,
		EcsClusterArn:   props.EcsClusterArn,
		AlarmEmail:      props.AlarmEmail,
	})
	return s
}
