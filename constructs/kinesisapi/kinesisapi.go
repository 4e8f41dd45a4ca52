// Package kinesisapi is the L3 construct for the pipeline's REST API: one API Gateway REST API
// that fronts both halves of ingestion.
//
//   - /{proxy+} ANY is an HTTP proxy to a Kafka REST proxy behind an internal Network Load
//     Balancer, reached through a VPC Link (the proxy is never public).
//   - /streams… are the six Kinesis integrations of the original pipeline (ListStreams,
//     DescribeStream, CreateStream, DeleteStream, PutRecord, PutRecords), with the mapping
//     templates in templates/ (fixed where the original was wrong; each file says why).
//
// Secure defaults: IAM authorisation (SigV4, AWS_IAM) on CreateStream and DeleteStream, and on the
// data routes either an API key with a throttled usage plan (Auth "key") or IAM as well (Auth
// "iam"); request models validated on the bodies that carry records; Kinesis errors mapped to
// 4xx/5xx with their body; JSON access logs; X-Ray tracing. API Gateway calls Kinesis with three
// roles, one per kind of route, each allowed only what its routes do: the data routes' role
// describes and writes streams named <StreamPrefix>*, the CreateStream role creates them, and the
// DeleteStream role deletes them, except the pipeline's own Streams, which it is explicitly
// denied. ListStreams, which has no resource-level permission, is the one action on "*".
package kinesisapi

import (
	"embed"
	"fmt"
	"regexp"

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

// Auth is how callers of the data routes authenticate.
type Auth string

const (
	// AuthAPIKey: an API key in x-api-key, with the usage plan's throttling (the default).
	// API Gateway's documentation is explicit that an API key identifies, it does not
	// authenticate.
	AuthAPIKey Auth = "key"
	// AuthIAM: requests signed with SigV4 by a principal allowed execute-api:Invoke.
	AuthIAM Auth = "iam"
)

// Props configures a KinesisApi.
type Props struct {
	// Name of the REST API. Required.
	Name string
	// Streams are the pipeline's own streams: the data routes may use them, and nothing can
	// delete them through the API. Required, at least one.
	Streams []awskinesis.IStream
	// StreamPrefix names the streams the API serves: the data routes describe and write, and
	// CreateStream and DeleteStream create and delete, streams whose name starts with it (for
	// the pipeline, "streaming-<userId>-"). Required.
	StreamPrefix string
	// Auth of the data routes. Default AuthAPIKey.
	Auth Auth
	// Proxy, when set, adds /{proxy+} ANY forwarded to it through a VPC Link.
	Proxy *ProxyTarget
	// StageName of the deployment. Default "prod".
	StageName string
	// RateLimit (requests per second, steady) and BurstLimit of the API key's usage plan and of
	// the stage. Defaults 100 and 200.
	RateLimit, BurstLimit float64
	// LogRetention of the access and execution logs. Default one month.
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
	Api awsapigateway.RestApi
	// Stage is the name of the deployment's stage (a literal, for execute-api ARNs).
	Stage string
	// Auth of the data routes.
	Auth Auth
	// ApiKey and UsagePlan exist with AuthAPIKey only (nil with AuthIAM).
	ApiKey    awsapigateway.ApiKey
	UsagePlan awsapigateway.UsagePlan
	// DataRole, CreateRole and DeleteRole are the roles API Gateway assumes to call Kinesis for
	// the data routes, CreateStream and DeleteStream.
	DataRole, CreateRole, DeleteRole awsiam.Role
	// AccessLogs gets one JSON line per request; ExecutionLogs API Gateway's log of the
	// requests that fail (level ERROR, no bodies).
	AccessLogs, ExecutionLogs awslogs.LogGroup
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
	if !streamPrefixRE.MatchString(props.StreamPrefix) {
		panic(fmt.Sprintf("kinesisapi.Props.StreamPrefix: %q must be 1 to 120 of the characters a Kinesis stream name allows (a-z A-Z 0-9 _ . -)", props.StreamPrefix))
	}
	auth := props.Auth
	if auth == "" {
		auth = AuthAPIKey
	}
	if auth != AuthAPIKey && auth != AuthIAM {
		panic(fmt.Sprintf("kinesisapi.Props.Auth: %q: want %q or %q", auth, AuthAPIKey, AuthIAM))
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
	k := &KinesisApi{Construct: c, Auth: auth, Stage: stage}

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
			StageName:      jsii.String(stage),
			TracingEnabled: jsii.Bool(true),
			// Execution logs of failed requests (integration errors, mapping failures, auth
			// refusals), which the access log cannot explain. Never data trace: it would log
			// request and response bodies, the pipeline's records. Like the access log, this
			// needs the account's API Gateway CloudWatch role (README, prerequisites).
			LoggingLevel:         awsapigateway.MethodLoggingLevel_ERROR,
			DataTraceEnabled:     jsii.Bool(false),
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

	// API Gateway writes execution logs to API-Gateway-Execution-Logs_<api id>/<stage>, and
	// creates that group itself, never expiring and outliving the stack, unless it exists:
	// declared here, it has a retention and goes with the stack. The stage waits for it.
	k.ExecutionLogs = awslogs.NewLogGroup(c, jsii.String("ExecutionLogs"), &awslogs.LogGroupProps{
		LogGroupName: awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("API-Gateway-Execution-Logs_"), k.Api.RestApiId(), jsii.String("/" + stage),
		}),
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	k.Api.DeploymentStage().Node().AddDependency(k.ExecutionLogs)

	k.credentialRoles(c, props)

	validator := k.Api.AddRequestValidator(jsii.String("Validator"), &awsapigateway.RequestValidatorOptions{
		RequestValidatorName:      jsii.String(props.Name + "-validator"),
		ValidateRequestBody:       jsii.Bool(true),
		ValidateRequestParameters: jsii.Bool(true),
	})
	models := newModels(k.Api)

	kinesis := func(action, template string) awsapigateway.AwsIntegration {
		role := k.DataRole
		switch action {
		case "CreateStream":
			role = k.CreateRole
		case "DeleteStream":
			role = k.DeleteRole
		}
		return awsapigateway.NewAwsIntegration(&awsapigateway.AwsIntegrationProps{
			Service:               jsii.String("kinesis"),
			Action:                jsii.String(action),
			IntegrationHttpMethod: jsii.String("POST"),
			Options: &awsapigateway.IntegrationOptions{
				CredentialsRole:     role,
				PassthroughBehavior: awsapigateway.PassthroughBehavior_NEVER,
				RequestParameters: &map[string]*string{
					"integration.request.header.Content-Type": jsii.String("'application/x-amz-json-1.1'"),
				},
				RequestTemplates:     &map[string]*string{"application/json": jsii.String(Template(template))},
				IntegrationResponses: integrationResponses(),
			},
		})
	}
	// options are a route's method options: data routes need the API key or IAM (Auth), admin
	// routes (CreateStream, DeleteStream) are authorised with IAM only.
	options := func(model awsapigateway.IModel, admin bool) *awsapigateway.MethodOptions {
		o := &awsapigateway.MethodOptions{RequestValidator: validator, MethodResponses: methodResponses(models)}
		k.authorize(o, admin)
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
			k.authorize(&awsapigateway.MethodOptions{
				RequestValidator:  validator,
				RequestParameters: &map[string]*bool{"method.request.path.proxy": jsii.Bool(true)},
			}, false))
	}

	if auth == AuthIAM {
		return k
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

var streamPrefixRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,120}$`)

// authorize sets o's authorisation: IAM for admin routes and, with AuthIAM, for data routes;
// otherwise the API key.
func (k *KinesisApi) authorize(o *awsapigateway.MethodOptions, admin bool) *awsapigateway.MethodOptions {
	if admin || k.Auth == AuthIAM {
		o.AuthorizationType = awsapigateway.AuthorizationType_IAM
		o.ApiKeyRequired = jsii.Bool(false)
	} else {
		o.AuthorizationType = awsapigateway.AuthorizationType_NONE
		o.ApiKeyRequired = jsii.Bool(true)
	}
	return o
}

// credentialRoles declares the three roles API Gateway assumes to call Kinesis. Splitting them
// keeps a data route (API key or IAM) from ever holding CreateStream or DeleteStream, and the
// DeleteStream role's explicit Deny keeps the pipeline's own streams safe whatever else it is
// later granted.
func (k *KinesisApi) credentialRoles(c constructs.Construct, props *Props) {
	stack := awscdk.Stack_Of(c)
	prefixed := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("kinesis"), Resource: jsii.String("stream"), ResourceName: jsii.String(props.StreamPrefix + "*"),
	})
	own := make([]*string, len(props.Streams))
	for i, s := range props.Streams {
		own[i] = s.StreamArn()
	}
	role := func(id, what string) awsiam.Role {
		return awsiam.NewRole(c, jsii.String(id), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
			Description: jsii.String("API Gateway calls Kinesis for " + props.Name + ": " + what),
		})
	}
	k.DataRole = role("KinesisDataRole", "describe and write streams "+props.StreamPrefix+"*")
	k.DataRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:PutRecord", "kinesis:PutRecords"),
		Resources: &[]*string{prefixed},
	}))
	k.DataRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kinesis:ListStreams"),
		Resources: jsii.Strings("*"),
	}))
	k.CreateRole = role("KinesisCreateRole", "create streams "+props.StreamPrefix+"*")
	k.CreateRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kinesis:CreateStream"),
		Resources: &[]*string{prefixed},
	}))
	k.DeleteRole = role("KinesisDeleteRole", "delete streams "+props.StreamPrefix+"*, never the pipeline's own")
	k.DeleteRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kinesis:DeleteStream"),
		Resources: &[]*string{prefixed},
	}))
	k.DeleteRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_DENY,
		Actions:   jsii.Strings("kinesis:DeleteStream"),
		Resources: &own,
	}))
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
