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
	vp := &awsec2.VpcProps{
		VpcName:     jsii.String(cfg.Name("vpc")),
		IpAddresses: awsec2.IpAddresses_Cidr(jsii.String("10.40.0.0/16")),
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
	}
	// Two AZs: the region's first two, or the two the availabilityZones context names (not
	// every AZ offers every MSK broker size, e.g. no broker runs in use1-az3).
	if azs := cfg.AZs(); len(azs) > 0 {
		vp.AvailabilityZones = jsii.Strings(azs...)
	} else {
		vp.MaxAzs = jsii.Number(2)
	}
	s.Vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), vp)
	// Kept while Ingestion stacks deployed from an earlier version import it (their proxy
	// admitted the VPC's CIDR; now only the NLB's security group): CloudFormation refuses to
	// delete an export another stack still imports, and cdk deploy --all updates Network before
	// Ingestion, so dropping it in the same release as the import would fail the update. The
	// export costs nothing; it can go once no deployed Ingestion stack imports it
	// (aws cloudformation list-imports --export-name <name> is empty).
	stack.ExportValue(s.Vpc.VpcCidrBlock(), nil)
	return s
}
