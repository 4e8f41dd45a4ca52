package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// NetworkStackProps configures the network stack.
type NetworkStackProps struct {
	awscdk.StackProps
	Config Config
}

// NetworkStack is the VPC everything runs in: two AZs, a public and a private subnet in each,
// NAT gateways for the private subnets (one by default, to keep idle cost down), a free S3 gateway
// endpoint so bulk S3 traffic bypasses the NAT, and flow logs of all traffic.
type NetworkStack struct {
	awscdk.Stack
	Vpc      awsec2.Vpc
	FlowLogs awslogs.LogGroup
}

// NewNetworkStack declares the network.
func NewNetworkStack(scope constructs.Construct, id string, props *NetworkStackProps) *NetworkStack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &NetworkStack{Stack: stack}
	cfg := props.Config

	s.FlowLogs = awslogs.NewLogGroup(stack, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	s.Vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
		VpcName:     jsii.String(cfg.Name("vpc")),
		IpAddresses: awsec2.IpAddresses_Cidr(jsii.String("10.40.0.0/16")),
		MaxAzs:      jsii.Number(2),
		NatGateways: jsii.Number(float64(cfg.NatGateways)),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("private"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(22)},
		},
		GatewayEndpoints: &map[string]*awsec2.GatewayVpcEndpointOptions{
			"S3": {Service: awsec2.GatewayVpcEndpointAwsService_S3()},
		},
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"All": {
				Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(s.FlowLogs, nil),
				TrafficType: awsec2.FlowLogTrafficType_ALL,
			},
		},
	})
	// Kept while deployed Ingestion stacks of earlier versions import it (their proxy admitted
	// the VPC's CIDR): a stack may not drop an export another stack still imports, so dropping
	// it in the same release would fail the update of Network before Ingestion stops using it.
	stack.ExportValue(s.Vpc.VpcCidrBlock(), nil)
	return s
}
