package stacks

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2targets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskafkaconnect"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/golambda"
	"github.com/pinpipe/pinpipe/constructs/kinesisapi"
	"github.com/pinpipe/pinpipe/constructs/physicalname"
	"github.com/pinpipe/pinpipe/record"
)

// RestProxyPort is the port the Confluent REST proxy listens on (its default).
const RestProxyPort = 8082

// restProxyUserData is the instance's boot script; restProxyScript renders it.
//
//go:embed userdata/rest-proxy.sh
var restProxyUserData string

// IngestionStackProps configures the ingestion stack.
type IngestionStackProps struct {
	awscdk.StackProps
	Config  Config
	Network *NetworkStack
	Storage *StorageStack
	Kafka   *KafkaStack
}

// IngestionStack is the stateless front of the pipeline: the Kafka client / REST proxy instance
// behind an internal NLB, the REST API (Kafka proxy and Kinesis routes), and the MSK Connect S3
// sink that copies the three topics into the sink bucket.
type IngestionStack struct {
	awscdk.Stack
	// Api is the REST API construct (API, key, usage plan, Kinesis role, access logs).
	Api *kinesisapi.KinesisApi
	// ProxyInstance runs the Kafka client tools and the REST proxy; ProxyRole is its role.
	ProxyInstance awsec2.Instance
	ProxyRole     awsiam.Role
	LoadBalancer  awselasticloadbalancingv2.NetworkLoadBalancer
	// Connector is the MSK Connect S3 sink; ConnectorRole its service execution role.
	Connector     awskafkaconnect.CfnConnector
	ConnectorRole awsiam.Role
	Plugin        awskafkaconnect.CfnCustomPlugin
	// ApiUrl is the invoke URL of the stage, e.g. https://<id>.execute-api.<region>.amazonaws.com/prod/.
	ApiUrl *string
}

// NewIngestionStack declares the ingestion side.
func NewIngestionStack(scope constructs.Construct, id string, props *IngestionStackProps) *IngestionStack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &IngestionStack{Stack: stack}
	cfg := props.Config
	vpc := props.Network.Vpc
	kafka := props.Kafka
	private := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}

	s.restProxy(cfg, vpc, kafka, private)

	streams := make([]awskinesis.IStream, 0, len(record.Kinds))
	for _, k := range record.Kinds {
		streams = append(streams, props.Storage.Streams[k])
	}
	s.Api = kinesisapi.New(stack, "Api", &kinesisapi.Props{
		Name:         cfg.Name("api"),
		Streams:      streams,
		StreamPrefix: record.Stream(cfg.UserID, ""),
		Auth:         kinesisapi.Auth(cfg.ApiAuth),
		Proxy:        &kinesisapi.ProxyTarget{LoadBalancer: s.LoadBalancer, Port: 80},
		RateLimit:    float64(cfg.ApiRateLimit),
		BurstLimit:   float64(cfg.ApiBurstLimit),
	})
	s.ApiUrl = s.Api.Api.Url()
	// The RestApi's own "Endpoint" output duplicates ApiUrl below under a generated name.
	s.Api.Api.Node().TryRemoveChild(jsii.String("Endpoint"))
	if cfg.ApiAuth == ApiAuthKey {
		nagSuppress(s.Api.Construct, "AwsSolutions-APIG4",
			"apiAuth=key (the default, as the original pipeline): data routes take the API key of the usage plan, "+
				"which throttles them; apiAuth=iam puts them behind SigV4 (README, Deploy). CreateStream and "+
				"DeleteStream, which change infrastructure, require IAM (SigV4) in both modes")
	}
	nagSuppress(s.Api.Construct, "AwsSolutions-COG4",
		"no end users: producers and stream administration authenticate with IAM (SigV4), or producers with the API key (apiAuth=key)")
	nagSuppress(s.Api.Construct, "AwsSolutions-APIG3",
		"no WAF web ACL by default: every route needs the API key or IAM and is throttled; a web ACL "+
			"adds at least $6/month to an idle pipeline")
	nagSuppress(s.Api.Construct, "AwsSolutions-IAM5",
		"kinesis:ListStreams has no resource-level permission; the other actions are on the streams named "+
			record.Stream(cfg.UserID, "")+"*, the ones this API serves and creates (the pipeline's three are denied to DeleteStream)",
		// Partition, region and account are tokens (<AWS::Region>) or, bound to an environment, literals.
		"Resource::*", `/^Resource::arn:(<AWS::Partition>|[a-z-]+):kinesis:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|\d{12}):stream\/`+
			regexp.QuoteMeta(record.Stream(cfg.UserID, ""))+`\*$/`)

	s.s3Sink(cfg, vpc, kafka, props.Storage, private)

	awscdk.NewCfnOutput(stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Value:       s.ApiUrl,
		Description: jsii.String("Invoke URL: POST {ApiUrl}topics/<userId>.pin (Kafka), PUT {ApiUrl}streams/<stream>/record (Kinesis)"),
	})
	if s.Api.ApiKey != nil {
		awscdk.NewCfnOutput(stack, jsii.String("ApiKeyId"), &awscdk.CfnOutputProps{
			Value:       s.Api.ApiKey.KeyId(),
			Description: jsii.String("aws apigateway get-api-key --include-value --api-key <ApiKeyId> --query value --output text"),
		})
	}
	awscdk.NewCfnOutput(stack, jsii.String("ProxyInstanceId"), &awscdk.CfnOutputProps{
		Value:       s.ProxyInstance.InstanceId(),
		Description: jsii.String("aws ssm start-session --target <ProxyInstanceId> (Kafka client tools in /opt/kafka)"),
	})
	return s
}

// restProxy declares the Kafka client / REST proxy instance and the internal NLB in front of it.
func (s *IngestionStack) restProxy(cfg Config, vpc awsec2.IVpc, kafka *KafkaStack, private *awsec2.SubnetSelection) {
	stack := s.Stack
	// The role's own ARN goes into the IAM login module (awsRoleArn), which assumes it from the
	// instance profile's session: the role trusts itself for that, by name, so the ARN is known
	// before the role exists.
	// IAM role names are account-wide: the name holds the region.
	roleName := cfg.GlobalName("rest-proxy")
	roleArn := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":iam::"), awscdk.Aws_ACCOUNT_ID(),
		jsii.String(":role/"), roleName,
	})
	s.ProxyRole = awsiam.NewRole(stack, jsii.String("ProxyRole"), &awsiam.RoleProps{
		RoleName:    roleName,
		Description: jsii.String("Kafka client and REST proxy: produce to the " + cfg.UserID + " topics; SSM sessions"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonSSMManagedInstanceCore")),
		},
	})
	s.ProxyRole.AssumeRolePolicy().AddStatements(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("sts:AssumeRole"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
		Conditions: &map[string]interface{}{"ArnEquals": map[string]interface{}{"aws:PrincipalArn": roleArn}},
	}))
	s.ProxyRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sts:AssumeRole"),
		Resources: &[]*string{roleArn},
	}))
	kafka.GrantProduce(s.ProxyRole)
	// What the commands the user data runs and README.md shows need: kafka-topics.sh --list and
	// kafka-console-consumer.sh on this user's topics, in consumer groups named <userId>.<name>,
	// or in the console-consumer-<n> group it makes up when given no --group.
	kafka.GrantConsume(s.ProxyRole, ProxyGroupPrefix(cfg)+"*")
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      s.ProxyRole,
		Actions:      jsii.Strings("kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"),
		ResourceArns: &[]*string{kafka.GroupArn(ConsoleConsumerGroupPrefix + "*")},
	})
	// cfn-signal: the readiness signal the instance's CreationPolicy waits for.
	s.ProxyRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("cloudformation:SignalResource"),
		Resources: &[]*string{stack.StackId()},
	}))
	nagSuppress(s.ProxyRole, "AwsSolutions-IAM4",
		"AmazonSSMManagedInstanceCore is AWS's maintained policy for Session Manager access, the only way in (no key pair, no SSH)",
		"Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore")
	kafka.NagSuppressKafkaWildcards(s.ProxyRole, ConsoleConsumerGroupPrefix)

	// Port 8082 is open to the load balancer's security group only, not to a CIDR (finding 10).
	// The NLB's own group is explicit (not left to a feature flag) and has no inbound rule: the
	// API's VPC Link reaches the NLB over PrivateLink, whose traffic the NLB is told not to check
	// against inbound rules (EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic off, below), so
	// nothing else in the VPC can reach the listener. Its only egress is to the proxy port, which
	// also carries the health checks (they pass outbound rules only, per the NLB guide).
	sg := awsec2.NewSecurityGroup(stack, jsii.String("ProxySG"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("REST proxy instance: port 8082 from the security group of the internal NLB only"),
		AllowAllOutbound: jsii.Bool(true),
	})
	nlbSG := awsec2.NewSecurityGroup(stack, jsii.String("NlbSG"), &awsec2.SecurityGroupProps{
		Vpc: vpc,
		Description: jsii.String("Internal NLB of the REST proxy: no inbound rule (the API VPC Link arrives over PrivateLink); " +
			"out to the proxy port only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	nlbSG.Connections().AllowTo(sg, awsec2.Port_Tcp(jsii.Number(RestProxyPort)),
		jsii.String("REST proxy traffic and health checks from the internal NLB"))

	d := struct{ kafka, confluent, iam Download }{cfg.KafkaDownload(), cfg.ConfluentDownload(), cfg.MskIamAuthDownload()}
	topics := make([]string, 0, len(record.Kinds))
	for _, k := range record.Kinds {
		topics = append(topics, kafka.Topics[k])
	}
	settings := map[string]string{
		"KAFKA_URL":               d.kafka.URL,
		"KAFKA_SHA512":            d.kafka.Digest,
		"KAFKA_SHA512_URL":        unpinnedChecksumURL(d.kafka),
		"CONFLUENT_URL":           d.confluent.URL,
		"CONFLUENT_SHA256":        d.confluent.Digest,
		"MSK_IAM_AUTH_URL":        d.iam.URL,
		"MSK_IAM_AUTH_SHA256":     d.iam.Digest,
		"MSK_IAM_AUTH_SHA256_URL": unpinnedChecksumURL(d.iam),
		"BOOTSTRAP_SERVERS":       *kafka.BootstrapBrokers,
		"ROLE_ARN":                *roleArn,
		"REST_PORT":               fmt.Sprint(RestProxyPort),
		"AWS_REGION":              *awscdk.Aws_REGION(),
		"TOPICS":                  strings.Join(topics, " "),
		"PROBE_TOPIC":             kafka.Topics[record.Pin],
		"GROUP_PREFIX":            ProxyGroupPrefix(cfg),
		"CFN_STACK":               *stack.StackName(),
	}
	userData := awsec2.UserData_ForLinux(nil)
	// The image's architecture follows the instance type's (t4g, m7g, … are Graviton).
	instanceType := awsec2.NewInstanceType(jsii.String(cfg.ProxyInstanceType))
	cpuType := awsec2.AmazonLinuxCpuType_X86_64
	if instanceType.Architecture() == awsec2.InstanceArchitecture_ARM_64 {
		cpuType = awsec2.AmazonLinuxCpuType_ARM_64
	}
	s.ProxyInstance = awsec2.NewInstance(stack, jsii.String("Proxy"), &awsec2.InstanceProps{
		InstanceName: jsii.String(cfg.Name("rest-proxy")),
		Vpc:          vpc,
		VpcSubnets:   private,
		InstanceType: instanceType,
		MachineImage: awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{
			CpuType: cpuType,
		}),
		Role:                      s.ProxyRole,
		SecurityGroup:             sg,
		RequireImdsv2:             jsii.Bool(true),
		AssociatePublicIpAddress:  jsii.Bool(false),
		UserData:                  userData,
		UserDataCausesReplacement: jsii.Bool(true),
		BlockDevices: &[]*awsec2.BlockDevice{{
			DeviceName: jsii.String("/dev/xvda"),
			Volume: awsec2.BlockDeviceVolume_Ebs(jsii.Number(16), &awsec2.EbsDeviceOptions{
				Encrypted:  jsii.Bool(true),
				VolumeType: awsec2.EbsDeviceVolumeType_GP3,
			}),
		}},
	})
	// The script names its own resource for cfn-signal. UserDataCausesReplacement makes the
	// logical ID end in a digest of the user data, which CDK computes without recursing.
	cfnInstance := s.ProxyInstance.Instance()
	settings["CFN_RESOURCE"] = *cfnInstance.LogicalId()
	// ForLinux writes the same shebang (#!/bin/bash) the script starts with.
	_, body, _ := strings.Cut(restProxyScript(settings), "\n")
	userData.AddCommands(jsii.String(body))
	// CloudFormation marks the instance created only when the boot script signals success, after
	// its readiness checks; a failed check signals failure (the stack rolls back naming the step)
	// and a boot that cannot signal at all times out.
	cfnInstance.CfnOptions().SetCreationPolicy(&awscdk.CfnCreationPolicy{
		ResourceSignal: &awscdk.CfnResourceSignal{Count: jsii.Number(1), Timeout: jsii.String(ProxyReadyTimeout)},
	})
	s.ProxyInstance.AddSecurityGroup(kafka.ClientSecurityGroup)
	// The subnet places the instance; CDK also writes the subnet's AZ when it is known (the
	// availabilityZones context), which CloudFormation's linter flags as hard-coded (W3010).
	s.ProxyInstance.Instance().AddPropertyDeletionOverride(jsii.String("AvailabilityZone"))
	nagSuppress(s.ProxyInstance, "AwsSolutions-EC28",
		"five-minute basic monitoring is enough for one stateless proxy; detailed monitoring costs about $2/month")
	nagSuppress(s.ProxyInstance, "AwsSolutions-EC29",
		"stateless: CloudFormation re-creates it from its user data; termination protection would only block `cdk destroy`")

	// A security group can only be given to an NLB when it is created; nlbSG is it (see above).
	s.LoadBalancer = awselasticloadbalancingv2.NewNetworkLoadBalancer(stack, jsii.String("Nlb"), &awselasticloadbalancingv2.NetworkLoadBalancerProps{
		Vpc:              vpc,
		VpcSubnets:       private,
		InternetFacing:   jsii.Bool(false),
		CrossZoneEnabled: jsii.Bool(true),
		SecurityGroups:   &[]awsec2.ISecurityGroup{nlbSG},
		EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: jsii.Bool(false),
	})
	s.LoadBalancer.AddListener(jsii.String("Http"), &awselasticloadbalancingv2.BaseNetworkListenerProps{
		Port:     jsii.Number(80),
		Protocol: awselasticloadbalancingv2.Protocol_TCP,
	}).AddTargets(jsii.String("RestProxy"), &awselasticloadbalancingv2.AddNetworkTargetsProps{
		Port:     jsii.Number(RestProxyPort),
		Protocol: awselasticloadbalancingv2.Protocol_TCP,
		Targets: &[]awselasticloadbalancingv2.INetworkLoadBalancerTarget{
			awselasticloadbalancingv2targets.NewInstanceTarget(s.ProxyInstance, jsii.Number(RestProxyPort)),
		},
		// GET /topics makes the REST proxy ask the brokers (over IAM) for the topic list: it
		// answers 200 only while Kafka is reachable, so the target goes unhealthy with Kafka.
		HealthCheck: &awselasticloadbalancingv2.HealthCheck{
			Protocol:                awselasticloadbalancingv2.Protocol_HTTP,
			Path:                    jsii.String(ProxyHealthPath),
			HealthyHttpCodes:        jsii.String("200"),
			Interval:                awscdk.Duration_Seconds(jsii.Number(30)),
			Timeout:                 awscdk.Duration_Seconds(jsii.Number(10)),
			HealthyThresholdCount:   jsii.Number(2),
			UnhealthyThresholdCount: jsii.Number(2),
		},
	})
	nagSuppress(s.LoadBalancer, "AwsSolutions-ELB2",
		"an NLB writes access logs only for TLS listeners; this one has a TCP listener inside the VPC, "+
			"and every request is in the API's access logs")
}

// ProxyReadyTimeout is how long CloudFormation waits for the proxy host's readiness signal. A
// boot takes about 5-8 minutes (packages, three downloads, the REST proxy's start, the checks);
// the readiness checks give up after 10 minutes of an unreachable cluster and signal failure.
const ProxyReadyTimeout = "PT25M"

// ProxyHealthPath is what the load balancer's health check asks the REST proxy.
const ProxyHealthPath = "/topics"

// ConsoleConsumerGroupPrefix names the group kafka-console-consumer.sh joins when given no
// --group (console-consumer-<random number>); the proxy host's role may use those too.
const ConsoleConsumerGroupPrefix = "console-consumer-"

// ProxyGroupPrefix is the name prefix of the consumer groups the proxy host's role may use.
func ProxyGroupPrefix(cfg Config) string { return cfg.UserID + "." }

// unpinnedChecksumURL is the publisher's checksum file of an unpinned download, which the boot
// then checks it against; empty when the download is pinned.
func unpinnedChecksumURL(d Download) string {
	if d.Digest != "" {
		return ""
	}
	return d.ChecksumURL
}

// restProxyScript renders userdata/rest-proxy.sh: the settings as single-quoted shell
// assignments after the shebang, then the script. Values may be CDK tokens (they resolve at
// deploy time); none may hold a single quote.
func restProxyScript(vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	shebang, body, _ := strings.Cut(restProxyUserData, "\n")
	b.WriteString(shebang + "\n# Settings rendered by stacks/ingestion.go:\n")
	for _, k := range names {
		v := vars[k]
		if strings.Contains(v, "'") {
			panic(fmt.Sprintf("user data setting %s: %q holds a single quote", k, v))
		}
		fmt.Fprintf(&b, "%s='%s'\n", k, v)
	}
	b.WriteString(body)
	return b.String()
}

// s3Sink declares the MSK Connect custom plugin (the connector zip) and the S3 sink connector.
func (s *IngestionStack) s3Sink(cfg Config, vpc awsec2.IVpc, kafka *KafkaStack, storage *StorageStack, private *awsec2.SubnetSelection) {
	stack := s.Stack
	// Custom plugins and connectors are replaced, never updated, when one of their create-only
	// properties changes (for a connector nearly all of them: bootstrap servers, subnets,
	// security groups, log delivery, role, plugin, configuration), and their names must be
	// unique: each name ends in a deploy-time digest of those properties, so a replacement gets
	// a new name and CloudFormation can create it before deleting the old one.
	var bucketArn, key *string
	if cfg.ConnectorZipPath != "" {
		// A local zip: uploaded as a CDK asset, which the plugin reads from the asset bucket.
		path, err := filepath.Abs(cfg.ConnectorZipPath)
		if err != nil {
			panic(fmt.Sprintf("cdk.json context \"connectorZipPath\": %v", err))
		}
		asset := awss3assets.NewAsset(stack, jsii.String("ConnectorZip"), &awss3assets.AssetProps{Path: jsii.String(path)})
		bucketArn, key = asset.Bucket().BucketArn(), asset.S3ObjectKey()
	} else {
		bucketArn, key = s.connectorZip(cfg, storage)
	}
	pluginDescription := jsii.String("Confluent S3 sink connector " + cfg.ConnectorVersion)
	pluginType := jsii.String("ZIP")
	pluginLocation := &awskafkaconnect.CfnCustomPlugin_CustomPluginLocationProperty{
		S3Location: &awskafkaconnect.CfnCustomPlugin_S3LocationProperty{BucketArn: bucketArn, FileKey: key},
	}
	pluginName := physicalname.New(stack, "S3SinkPluginName", &physicalname.Props{
		Prefix:    cfg.Name("s3-sink-" + strings.ReplaceAll(cfg.ConnectorVersion, ".", "-")),
		MaxLength: 128,
		Inputs: map[string]interface{}{
			"/Description": pluginDescription, "/ContentType": pluginType, "/Location": pluginLocation,
		},
	})
	s.Plugin = awskafkaconnect.NewCfnCustomPlugin(stack, jsii.String("S3SinkPlugin"), &awskafkaconnect.CfnCustomPluginProps{
		Name:        pluginName.Name,
		Description: pluginDescription,
		ContentType: pluginType,
		Location:    pluginLocation,
	})

	s.ConnectorRole = awsiam.NewRole(stack, jsii.String("ConnectorRole"), &awsiam.RoleProps{
		Description: jsii.String("MSK Connect S3 sink: read the " + cfg.UserID + " topics, write topics/ in the sink bucket"),
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("kafkaconnect.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			},
		}),
	})
	// Consumer group connect-<connector name>; MSK Connect's internal topics and groups, under
	// both of the prefixes MSK Connect uses for them.
	kafka.GrantConsume(s.ConnectorRole, "connect-*")
	internal := make([]*string, 0, 2*len(MskConnectInternalPrefixes))
	internalGroups := make([]*string, 0, len(MskConnectInternalPrefixes))
	for _, p := range MskConnectInternalPrefixes {
		internal = append(internal, kafka.TopicArn(p+"*"))
		internalGroups = append(internalGroups, kafka.GroupArn(p+"*"))
	}
	s.ConnectorRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic",
			"kafka-cluster:ReadData", "kafka-cluster:WriteData"),
		Resources: &internal,
	}))
	s.ConnectorRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"),
		Resources: &internalGroups,
	}))
	sink := storage.SinkBucket
	s.ConnectorRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"),
		Resources: &[]*string{sink.BucketArn()},
	}))
	s.ConnectorRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
		Resources: &[]*string{sink.ArnForObjects(jsii.String("topics/*"))},
	}))
	kafka.NagSuppressKafkaWildcards(s.ConnectorRole, append([]string{"connect-"}, MskConnectInternalPrefixes...)...)
	nagSuppress(s.ConnectorRole, "AwsSolutions-IAM5",
		"the sink writes objects it names itself (topics/<topic>/partition=<p>/...) under topics/ of the sink bucket",
		`/^Resource::<Sink[0-9A-F]*\.Arn>\/topics\/\*$/`)

	logs := awslogs.NewLogGroup(stack, jsii.String("ConnectorLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	subnets := vpc.SelectSubnets(private).SubnetIds
	// Every create-only property of the connector, once: declared with these values and named
	// after them. Only Capacity may change in place.
	createOnly := map[string]interface{}{
		"/ConnectorDescription": jsii.String("Copies the " + cfg.UserID + " topics to s3://<sink bucket>/topics/"),
		"/KafkaConnectVersion":  jsii.String("2.7.1"),
		"/KafkaCluster": &awskafkaconnect.CfnConnector_KafkaClusterProperty{
			ApacheKafkaCluster: &awskafkaconnect.CfnConnector_ApacheKafkaClusterProperty{
				BootstrapServers: kafka.BootstrapBrokers,
				Vpc: &awskafkaconnect.CfnConnector_VpcProperty{
					SecurityGroups: &[]*string{kafka.ClientSecurityGroup.SecurityGroupId()},
					Subnets:        subnets,
				},
			},
		},
		"/KafkaClusterClientAuthentication": &awskafkaconnect.CfnConnector_KafkaClusterClientAuthenticationProperty{
			AuthenticationType: jsii.String("IAM"),
		},
		"/KafkaClusterEncryptionInTransit": &awskafkaconnect.CfnConnector_KafkaClusterEncryptionInTransitProperty{
			EncryptionType: jsii.String("TLS"),
		},
		"/ConnectorConfiguration": SinkConnectorConfig(cfg, sink.BucketName(), awscdk.Aws_REGION()),
		"/LogDelivery": &awskafkaconnect.CfnConnector_LogDeliveryProperty{
			WorkerLogDelivery: &awskafkaconnect.CfnConnector_WorkerLogDeliveryProperty{
				CloudWatchLogs: &awskafkaconnect.CfnConnector_CloudWatchLogsLogDeliveryProperty{
					Enabled: jsii.Bool(true), LogGroup: logs.LogGroupName(),
				},
			},
		},
		"/Plugins": &[]*awskafkaconnect.CfnConnector_PluginProperty{{
			CustomPlugin: &awskafkaconnect.CfnConnector_CustomPluginProperty{
				CustomPluginArn: s.Plugin.AttrCustomPluginArn(),
				Revision:        s.Plugin.AttrRevision(),
			},
		}},
		"/ServiceExecutionRoleArn": s.ConnectorRole.RoleArn(),
	}
	connectorName := physicalname.New(stack, "S3SinkName", &physicalname.Props{
		Prefix: cfg.Name("s3-sink"), MaxLength: 128, Inputs: createOnly,
	})
	s.Connector = awskafkaconnect.NewCfnConnector(stack, jsii.String("S3Sink"), &awskafkaconnect.CfnConnectorProps{
		ConnectorName:                    connectorName.Name,
		ConnectorDescription:             createOnly["/ConnectorDescription"].(*string),
		KafkaConnectVersion:              createOnly["/KafkaConnectVersion"].(*string),
		KafkaCluster:                     createOnly["/KafkaCluster"],
		KafkaClusterClientAuthentication: createOnly["/KafkaClusterClientAuthentication"],
		KafkaClusterEncryptionInTransit:  createOnly["/KafkaClusterEncryptionInTransit"],
		Capacity: &awskafkaconnect.CfnConnector_CapacityProperty{
			ProvisionedCapacity: &awskafkaconnect.CfnConnector_ProvisionedCapacityProperty{
				McuCount:    jsii.Number(float64(cfg.ConnectorMcuCount)),
				WorkerCount: jsii.Number(float64(cfg.ConnectorWorkers)),
			},
		},
		ConnectorConfiguration:  createOnly["/ConnectorConfiguration"],
		LogDelivery:             createOnly["/LogDelivery"],
		Plugins:                 createOnly["/Plugins"],
		ServiceExecutionRoleArn: s.ConnectorRole.RoleArn(),
	})
	// The role's policy must exist before the connector starts reading.
	s.Connector.Node().AddDependency(s.ConnectorRole)
}

// MskConnectInternalPrefixes name the topics and consumer groups MSK Connect keeps a connector's
// offsets, configuration and status in: __amazon_msk_connect_* and __msk_connect_*.
var MskConnectInternalPrefixes = []string{"__amazon_msk_connect_", "__msk_connect_"}

// TopicsRegex is the sink's topics.regex: exactly the user's three topics. Kafka Connect
// matches the whole topic name (Java's Pattern.matches), and the dot is escaped, so the regex
// of user demo matches demo.pin but neither demo2.pin nor demoxpin.
func TopicsRegex(userID string) string {
	kinds := make([]string, len(record.Kinds))
	for i, k := range record.Kinds {
		kinds[i] = regexp.QuoteMeta(string(k))
	}
	return "^" + regexp.QuoteMeta(userID) + `\.(` + strings.Join(kinds, "|") + ")$"
}

// SinkConnectorConfig is the original pipeline's S3 sink configuration with this deployment's
// bucket, region and flush.size: every topic of the user (topics.regex), raw JSON values
// (JsonConverter without schemas), string keys, JsonFormat objects under
// topics/<topic>/partition=<p>/ (DefaultPartitioner).
func SinkConnectorConfig(cfg Config, bucket, region *string) *map[string]*string {
	return &map[string]*string{
		"connector.class":                jsii.String("io.confluent.connect.s3.S3SinkConnector"),
		"s3.region":                      region,
		"s3.bucket.name":                 bucket,
		"flush.size":                     jsii.String(fmt.Sprint(cfg.FlushSize)),
		"schema.compatibility":           jsii.String("NONE"),
		"tasks.max":                      jsii.String("3"),
		"topics.regex":                   jsii.String(TopicsRegex(cfg.UserID)),
		"format.class":                   jsii.String("io.confluent.connect.s3.format.json.JsonFormat"),
		"partitioner.class":              jsii.String("io.confluent.connect.storage.partitioner.DefaultPartitioner"),
		"value.converter.schemas.enable": jsii.String("false"),
		"value.converter":                jsii.String("org.apache.kafka.connect.json.JsonConverter"),
		"storage.class":                  jsii.String("io.confluent.connect.s3.storage.S3Storage"),
		"key.converter":                  jsii.String("org.apache.kafka.connect.storage.StringConverter"),
	}
}

// connectorZip declares the deploy-time download of the connector zip into the sink bucket
// (lambda/connectorzip, a custom resource) and returns the object it reports.
func (s *IngestionStack) connectorZip(cfg Config, storage *StorageStack) (bucketArn, key *string) {
	stack := s.Stack
	objectKey := "plugins/confluentinc-kafka-connect-s3-" + cfg.ConnectorVersion + ".zip"
	fn := golambda.New(stack, "ConnectorZipFn", &golambda.Props{
		Entry:       "lambda/connectorzip",
		Description: "Places the Confluent S3 sink connector zip for MSK Connect",
		MemorySize:  512,
		Timeout:     awscdk.Duration_Minutes(jsii.Number(5)),
	})
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject", "s3:DeleteObject"),
		Resources: &[]*string{storage.SinkBucket.ArnForObjects(jsii.String(objectKey))},
	}))
	props := map[string]interface{}{
		"Url":    cfg.ConnectorDownloadURL(),
		"Bucket": storage.SinkBucket.BucketName(),
		"Key":    objectKey,
	}
	if cfg.ConnectorSha256 != "" {
		props["Sha256"] = cfg.ConnectorSha256
	} else {
		// No published checksum for this version (README, Pinned downloads): the function keeps
		// the digest it saw in the ConnectorZipSha256 output, to pin with connectorSha256.
		props["Unpinned"] = "true"
	}
	res := awscdk.NewCustomResource(stack, jsii.String("ConnectorZip"), &awscdk.CustomResourceProps{
		ServiceToken: fn.Function.FunctionArn(),
		ResourceType: jsii.String("Custom::ConnectorZip"),
		Properties:   &props,
	})
	awscdk.NewCfnOutput(stack, jsii.String("ConnectorZipSha256"), &awscdk.CfnOutputProps{
		Value:       res.GetAttString(jsii.String("Sha256")),
		Description: jsii.String("SHA-256 of the connector zip that was downloaded (pin it with the connectorSha256 context)"),
	})
	return storage.SinkBucket.BucketArn(), res.GetAttString(jsii.String("Key"))
}
