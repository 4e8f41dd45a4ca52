// Package kinesisapi is the L3 construct for the pipeline's REST API: one API Gateway REST API
// that fronts both halves of ingestion.
//
//   - /{proxy+} ANY is an HTTP proxy to a Kafka REST proxy behind an internal Network Load
//     Balancer, reached through a VPC Link (the proxy is never public).
//   - /streams… are the six Kinesis integrations of the original pipeline (ListStreams,
//     DescribeStream, CreateStream, DeleteStream, PutRecord, PutRecords), with the mapping
//     templates in templates/ (fixed where the original was wrong; each file says why).
//
// Secure defaults: an API key and a throttled usage plan on every data route, IAM authorisation
// (and no API key) on CreateStream and DeleteStream, request models validated on the bodies that
// carry records, Kinesis errors mapped to 4xx/5xx with their body, JSON access logs, X-Ray
// tracing, and a credentials role that may act only on the given streams (ListStreams aside,
// which has no resource-level permission).
package kinesisapi

import (
	"embed"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

//go:embed templates/*.vtl
var templates embed.FS

// Template returns the mapping template templates/<name>.vtl.
func Template(name string) string {
	b, err := templates.ReadFile("templates/" + name + ".vtl")
	if err != nil {
		panic(fmt.Sprintf("kinesisapi: no template %q", name))
	}
	return string(b)
}

// Props configures a KinesisApi.
type Props struct {
	// Name of the REST API. Required.
	Name string
	// Streams the API may act on (describe, put, create, delete). Required, at least one.
	Streams []awskinesis.IStream
	// Proxy, when set, adds /{proxy+} ANY forwarded to it through a VPC Link.
	Proxy *ProxyTarget
	// StageName of the deployment. Default "prod".
	StageName string
	// RateLimit (requests per second, steady) and BurstLimit of the API key's usage plan and of
	// the stage. Defaults 100 and 200.
	RateLimit, BurstLimit float64
	// LogRetention of the access logs. Default one month.
	LogRetention awslogs.RetentionDays
}

// ProxyTarget is an HTTP service behind an internal Network Load Balancer.
type ProxyTarget struct {
	LoadBalancer awselasticloadbalancingv2.INetworkLoadBalancer
	// Port of the load balancer's listener. Default 80.
	Port float64
}

// KinesisApi is the API and what it is made of.
type KinesisApi struct {
	constructs.Construct
	Api       awsapigateway.RestApi
	ApiKey    awsapigateway.ApiKey
	UsagePlan awsapigateway.UsagePlan
	// CredentialsRole is the role API Gateway assumes to call Kinesis.
	CredentialsRole awsiam.Role
	AccessLogs      awslogs.LogGroup
	// VpcLink is nil when Props.Proxy is nil.
	VpcLink awsapigateway.VpcLink
}

// New declares the API. Invalid props panic with a message naming the field.
func New(scope constructs.Construct, id string, props *Props) *KinesisApi {
	if props == nil || props.Name == "" {
		panic("kinesisapi.Props.Name: required")
	}
	if len(props.Streams) == 0 {
		panic("kinesisapi.Props.Streams: at least one stream is required")
	}
	if props.Proxy != nil && props.Proxy.LoadBalancer == nil {
		panic("kinesisapi.Props.Proxy.LoadBalancer: required when Proxy is set")
	}
	stage := props.StageName
	if stage == "" {
		stage = "prod"
	}
	rate, burst := props.RateLimit, props.BurstLimit
	if rate == 0 {
		rate = 100
	}
	if burst == 0 {
		burst = 200
	}
	if rate < 0 || burst < 0 {
		panic("kinesisapi.Props.RateLimit/BurstLimit: must not be negative")
	}
	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	k := &KinesisApi{Construct: c}

	k.AccessLogs = awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	k.Api = awsapigateway.NewRestApi(c, jsii.String("Api"), &awsapigateway.RestApiProps{
		RestApiName:    jsii.String(props.Name),
		Description:    jsii.String("Ingestion API: Kafka REST proxy (/{proxy+}) and Kinesis streams (/streams)"),
		EndpointTypes:  &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		CloudWatchRole: jsii.Bool(false),
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(stage),
			TracingEnabled:       jsii.Bool(true),
			ThrottlingRateLimit:  jsii.Number(rate),
			ThrottlingBurstLimit: jsii.Number(burst),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(k.AccessLogs),
			AccessLogFormat: awsapigateway.AccessLogFormat_JsonWithStandardFields(&awsapigateway.JsonWithStandardFieldProps{
				Caller: jsii.Bool(true), HttpMethod: jsii.Bool(true), Ip: jsii.Bool(true), Protocol: jsii.Bool(true),
				RequestTime: jsii.Bool(true), ResourcePath: jsii.Bool(true), ResponseLength: jsii.Bool(true),
				Status: jsii.Bool(true), User: jsii.Bool(true),
			}),
		},
	})

	// The role API Gateway assumes for the Kinesis integrations.
	k.CredentialsRole = awsiam.NewRole(c, jsii.String("KinesisRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		Description: jsii.String("API Gateway calls Kinesis for " + props.Name + " on its streams only"),
	})
	arns := make([]*string, len(props.Streams))
	for i, s := range props.Streams {
		arns[i] = s.StreamArn()
	}
	k.CredentialsRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:PutRecord",
			"kinesis:PutRecords", "kinesis:CreateStream", "kinesis:DeleteStream"),
		Resources: &arns,
	}))
	k.CredentialsRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kinesis:ListStreams"),
		Resources: jsii.Strings("*"),
	}))

	validator := k.Api.AddRequestValidator(jsii.String("Validator"), &awsapigateway.RequestValidatorOptions{
		RequestValidatorName:      jsii.String(props.Name + "-validator"),
		ValidateRequestBody:       jsii.Bool(true),
		ValidateRequestParameters: jsii.Bool(true),
	})
	models := newModels(k.Api)

	kinesis := func(action, template string) awsapigateway.AwsIntegration {
		return awsapigateway.NewAwsIntegration(&awsapigateway.AwsIntegrationProps{
			Service:               jsii.String("kinesis"),
			Action:                jsii.String(action),
			IntegrationHttpMethod: jsii.String("POST"),
			Options: &awsapigateway.IntegrationOptions{
				CredentialsRole:     k.CredentialsRole,
				PassthroughBehavior: awsapigateway.PassthroughBehavior_NEVER,
				RequestParameters: &map[string]*string{
					"integration.request.header.Content-Type": jsii.String("'application/x-amz-json-1.1'"),
				},
				RequestTemplates:     &map[string]*string{"application/json": jsii.String(Template(template))},
				IntegrationResponses: integrationResponses(),
			},
		})
	}
	// options are a route's method options: data routes need the API key, admin routes
	// (CreateStream, DeleteStream) are authorised with IAM only.
	options := func(model awsapigateway.IModel, iam bool) *awsapigateway.MethodOptions {
		o := &awsapigateway.MethodOptions{
			AuthorizationType: awsapigateway.AuthorizationType_NONE,
			RequestValidator:  validator,
			MethodResponses:   methodResponses(models),
		}
		if iam {
			o.AuthorizationType = awsapigateway.AuthorizationType_IAM
		} else {
			o.ApiKeyRequired = jsii.Bool(true)
		}
		if model != nil {
			o.RequestModels = &map[string]awsapigateway.IModel{"application/json": model}
		}
		return o
	}
	data := func(model awsapigateway.IModel) *awsapigateway.MethodOptions { return options(model, false) }
	admin := func(model awsapigateway.IModel) *awsapigateway.MethodOptions { return options(model, true) }

	streams := k.Api.Root().AddResource(jsii.String("streams"), nil)
	streams.AddMethod(jsii.String("GET"), kinesis("ListStreams", "list-streams"), data(nil))
	named := streams.AddResource(jsii.String("{stream-name}"), nil)
	named.AddMethod(jsii.String("GET"), kinesis("DescribeStream", "describe-stream"), data(nil))
	named.AddMethod(jsii.String("POST"), kinesis("CreateStream", "create-stream"), admin(models.createStream))
	named.AddMethod(jsii.String("DELETE"), kinesis("DeleteStream", "delete-stream"), admin(nil))
	named.AddResource(jsii.String("record"), nil).
		AddMethod(jsii.String("PUT"), kinesis("PutRecord", "put-record"), data(models.putRecord))
	named.AddResource(jsii.String("records"), nil).
		AddMethod(jsii.String("PUT"), kinesis("PutRecords", "put-records"), data(models.putRecords))

	if p := props.Proxy; p != nil {
		port := p.Port
		if port == 0 {
			port = 80
		}
		k.VpcLink = awsapigateway.NewVpcLink(c, jsii.String("VpcLink"), &awsapigateway.VpcLinkProps{
			VpcLinkName: jsii.String(props.Name + "-proxy"),
			Targets:     &[]awselasticloadbalancingv2.INetworkLoadBalancer{p.LoadBalancer},
		})
		url := awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("http://"), p.LoadBalancer.LoadBalancerDnsName(),
			jsii.String(fmt.Sprintf(":%d/{proxy}", int(port))),
		})
		k.Api.Root().AddResource(jsii.String("{proxy+}"), nil).AddMethod(jsii.String("ANY"),
			awsapigateway.NewHttpIntegration(url, &awsapigateway.HttpIntegrationProps{
				HttpMethod: jsii.String("ANY"),
				Proxy:      jsii.Bool(true),
				Options: &awsapigateway.IntegrationOptions{
					ConnectionType: awsapigateway.ConnectionType_VPC_LINK,
					VpcLink:        k.VpcLink,
					RequestParameters: &map[string]*string{
						"integration.request.path.proxy": jsii.String("method.request.path.proxy"),
					},
				},
			}),
			&awsapigateway.MethodOptions{
				ApiKeyRequired:    jsii.Bool(true),
				AuthorizationType: awsapigateway.AuthorizationType_NONE,
				RequestValidator:  validator,
				RequestParameters: &map[string]*bool{"method.request.path.proxy": jsii.Bool(true)},
			})
	}

	k.ApiKey = awsapigateway.NewApiKey(c, jsii.String("Key"), &awsapigateway.ApiKeyProps{
		ApiKeyName:  jsii.String(props.Name + "-key"),
		Description: jsii.String("Key of the posting emulator and other producers of " + props.Name),
	})
	k.UsagePlan = awsapigateway.NewUsagePlan(c, jsii.String("UsagePlan"), &awsapigateway.UsagePlanProps{
		Name:     jsii.String(props.Name + "-producers"),
		Throttle: &awsapigateway.ThrottleSettings{RateLimit: jsii.Number(rate), BurstLimit: jsii.Number(burst)},
		ApiStages: &[]*awsapigateway.UsagePlanPerApiStage{{
			Api: k.Api, Stage: k.Api.DeploymentStage(),
		}},
	})
	k.UsagePlan.AddApiKey(k.ApiKey, nil)
	return k
}

// integrationResponses map the Kinesis answer to the method's status: 2xx passes through as 200;
// a Kinesis 4xx becomes 400 (404 or 429 by error type, see templates/error-response.vtl) and a
// 5xx becomes 502, both with the Kinesis error body.
func integrationResponses() *[]*awsapigateway.IntegrationResponse {
	errTemplate := &map[string]*string{"application/json": jsii.String(Template("error-response"))}
	return &[]*awsapigateway.IntegrationResponse{
		{StatusCode: jsii.String("200")},
		{StatusCode: jsii.String("400"), SelectionPattern: jsii.String(`4\d{2}`), ResponseTemplates: errTemplate},
		{StatusCode: jsii.String("502"), SelectionPattern: jsii.String(`5\d{2}`), ResponseTemplates: errTemplate},
	}
}

func methodResponses(m *models) *[]*awsapigateway.MethodResponse {
	out := []*awsapigateway.MethodResponse{}
	for _, code := range []string{"200", "400", "404", "429", "502"} {
		model := awsapigateway.Model_EMPTY_MODEL()
		if code != "200" {
			model = m.kinesisError
		}
		out = append(out, &awsapigateway.MethodResponse{
			StatusCode:     jsii.String(code),
			ResponseModels: &map[string]awsapigateway.IModel{"application/json": model},
		})
	}
	return &out
}
