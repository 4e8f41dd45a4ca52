package test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/kinesisapi"
)

// Two AZs with a public and a private subnet each, one NAT gateway, the S3 gateway endpoint and
// flow logs of all traffic.
func TestNetworkShape(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.Template(t, s.Pipeline.Network.Stack)
	Must(t, func() {
		tmpl.ResourceCountIs(jsii.String("AWS::EC2::Subnet"), jsii.Number(4))
		tmpl.ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(1))
		tmpl.HasResourceProperties(jsii.String("AWS::EC2::VPCEndpoint"), map[string]interface{}{
			"VpcEndpointType": "Gateway",
			"ServiceName":     map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{"com.amazonaws.", map[string]interface{}{"Ref": "AWS::Region"}, ".s3"}}},
		})
		tmpl.HasResourceProperties(jsii.String("AWS::EC2::FlowLog"), map[string]interface{}{
			"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs",
		})
	})
}

// The API construct refuses incomplete props with a message naming the field.
func TestKinesisApiPropsValidation(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("ApiProps"), nil)
	stream := awskinesis.NewStream(stack, jsii.String("S"), nil)
	for _, tc := range []struct {
		props *kinesisapi.Props
		field string
	}{
		{nil, "Props.Name"},
		{&kinesisapi.Props{Streams: []awskinesis.IStream{stream}}, "Props.Name"},
		{&kinesisapi.Props{Name: "x"}, "Props.Streams"},
		{&kinesisapi.Props{Name: "x", Streams: []awskinesis.IStream{stream}}, "Props.StreamPrefix"},
		{&kinesisapi.Props{Name: "x", Streams: []awskinesis.IStream{stream}, StreamPrefix: "a/b"}, "Props.StreamPrefix"},
		{&kinesisapi.Props{Name: "x", Streams: []awskinesis.IStream{stream}, StreamPrefix: "s-", Auth: "cognito"}, "Props.Auth"},
		{&kinesisapi.Props{Name: "x", Streams: []awskinesis.IStream{stream}, StreamPrefix: "s-", Proxy: &kinesisapi.ProxyTarget{}}, "Props.Proxy.LoadBalancer"},
		{&kinesisapi.Props{Name: "x", Streams: []awskinesis.IStream{stream}, StreamPrefix: "s-", RateLimit: -1}, "Props.RateLimit"},
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), tc.field) {
					t.Errorf("props %+v: panic %v, want one naming %s", tc.props, r, tc.field)
				}
			}()
			kinesisapi.New(stack, "Api", tc.props)
		}()
	}
}
