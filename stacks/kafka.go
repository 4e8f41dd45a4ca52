package stacks

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsmsk"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/physicalname"
	"github.com/pinpipe/pinpipe/record"
)

// KafkaIAMPort is the broker port for SASL/IAM over TLS.
const KafkaIAMPort = 9098

// KafkaStackProps configures the Kafka stack.
type KafkaStackProps struct {
	awscdk.StackProps
	Config Config
	Vpc    awsec2.IVpc
}

// KafkaStack is the MSK cluster (created, or imported from existingMskClusterArn), its three
// topics and its bootstrap string, read at deploy time.
type KafkaStack struct {
	awscdk.Stack
	// ClusterArn of the created or imported cluster.
	ClusterArn *string
	// Cluster is the created cluster; nil when imported.
	Cluster awsmsk.CfnCluster
	// ClientSecurityGroup is the group a Kafka client joins. For a created cluster the brokers
	// accept port 9098 from it; an existing cluster must allow it itself.
	ClientSecurityGroup awsec2.SecurityGroup
	// BootstrapBrokers is the SASL/IAM bootstrap string (host:9098,…), a deploy-time value from
	// kafka:GetBootstrapBrokers.
	BootstrapBrokers *string
	// Topics are <userId>.pin|geo|user, by kind.
	Topics map[record.Kind]string
	// BrokerLogs is the log group of the created cluster's brokers; nil when imported.
	BrokerLogs awslogs.LogGroup

	userID string
}

// NewKafkaStack declares the Kafka side.
func NewKafkaStack(scope constructs.Construct, id string, props *KafkaStackProps) *KafkaStack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	cfg := props.Config
	s := &KafkaStack{Stack: stack, Topics: map[record.Kind]string{}, userID: cfg.UserID}
	for _, k := range record.Kinds {
		s.Topics[k] = record.Topic(cfg.UserID, k)
	}

	s.ClientSecurityGroup = awsec2.NewSecurityGroup(stack, jsii.String("ClientSG"), &awsec2.SecurityGroupProps{
		Vpc:         props.Vpc,
		Description: jsii.String("Kafka clients of the pinpipe MSK cluster (REST proxy, MSK Connect)"),
	})

	if cfg.ExistingMskClusterArn != "" {
		s.ClusterArn = jsii.String(cfg.ExistingMskClusterArn)
	} else {
		brokerSG := awsec2.NewSecurityGroup(stack, jsii.String("BrokerSG"), &awsec2.SecurityGroupProps{
			Vpc:              props.Vpc,
			Description:      jsii.String("MSK brokers: SASL/IAM over TLS from Kafka clients only"),
			AllowAllOutbound: jsii.Bool(false),
		})
		brokerSG.AddIngressRule(s.ClientSecurityGroup, awsec2.Port_Tcp(jsii.Number(KafkaIAMPort)),
			jsii.String("Kafka clients, SASL/IAM over TLS"), nil)
		// Brokers replicate to each other on the same listener.
		brokerSG.AddIngressRule(brokerSG, awsec2.Port_Tcp(jsii.Number(KafkaIAMPort)),
			jsii.String("broker to broker"), nil)

		s.BrokerLogs = awslogs.NewLogGroup(stack, jsii.String("BrokerLogs"), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_ONE_MONTH,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		private := props.Vpc.SelectSubnets(&awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS})
		brokerSGs := &[]*string{brokerSG.SecurityGroupId()}
		inCluster := jsii.Bool(true)
		// The cluster is replaced when its subnets (the availabilityZones context), security
		// groups or in-cluster encryption change: its name follows them (constructs/physicalname).
		name := physicalname.New(stack, "ClusterName", &physicalname.Props{
			Prefix:    cfg.Name("kafka"),
			MaxLength: 64,
			Inputs: map[string]interface{}{
				"/BrokerNodeGroupInfo/ClientSubnets":            private.SubnetIds,
				"/BrokerNodeGroupInfo/SecurityGroups":           brokerSGs,
				"/EncryptionInfo/EncryptionInTransit/InCluster": inCluster,
			},
		})
		s.Cluster = awsmsk.NewCfnCluster(stack, jsii.String("Cluster"), &awsmsk.CfnClusterProps{
			ClusterName:         name.Name,
			KafkaVersion:        jsii.String(cfg.KafkaVersion),
			NumberOfBrokerNodes: jsii.Number(2),
			BrokerNodeGroupInfo: &awsmsk.CfnCluster_BrokerNodeGroupInfoProperty{
				ClientSubnets:  private.SubnetIds,
				InstanceType:   jsii.String(cfg.MskInstanceType),
				SecurityGroups: brokerSGs,
				StorageInfo: &awsmsk.CfnCluster_StorageInfoProperty{
					EbsStorageInfo: &awsmsk.CfnCluster_EBSStorageInfoProperty{VolumeSize: jsii.Number(float64(cfg.MskVolumeGiB))},
				},
			},
			ClientAuthentication: &awsmsk.CfnCluster_ClientAuthenticationProperty{
				Sasl: &awsmsk.CfnCluster_SaslProperty{
					Iam: &awsmsk.CfnCluster_IamProperty{Enabled: jsii.Bool(true)},
				},
				Unauthenticated: &awsmsk.CfnCluster_UnauthenticatedProperty{Enabled: jsii.Bool(false)},
			},
			EncryptionInfo: &awsmsk.CfnCluster_EncryptionInfoProperty{
				EncryptionInTransit: &awsmsk.CfnCluster_EncryptionInTransitProperty{
					ClientBroker: jsii.String("TLS"),
					InCluster:    inCluster,
				},
			},
			LoggingInfo: &awsmsk.CfnCluster_LoggingInfoProperty{
				BrokerLogs: &awsmsk.CfnCluster_BrokerLogsProperty{
					CloudWatchLogs: &awsmsk.CfnCluster_CloudWatchLogsProperty{
						Enabled:  jsii.Bool(true),
						LogGroup: s.BrokerLogs.LogGroupName(),
					},
				},
			},
		})
		s.Cluster.ApplyRemovalPolicy(cfg.removal(), nil)
		s.ClusterArn = s.Cluster.AttrArn()
	}

	if cfg.ManageTopics {
		for _, k := range record.Kinds {
			awsmsk.NewCfnTopic(stack, jsii.String("Topic"+kindTitle(k)), &awsmsk.CfnTopicProps{
				ClusterArn:        s.ClusterArn,
				TopicName:         jsii.String(s.Topics[k]),
				PartitionCount:    jsii.Number(float64(cfg.TopicPartitions)),
				ReplicationFactor: jsii.Number(float64(cfg.TopicReplicationFactor)),
			})
		}
	}

	// The bootstrap string exists only once the cluster is active: ask MSK at deploy time.
	call := &customresources.AwsSdkCall{
		Service:            jsii.String("Kafka"),
		Action:             jsii.String("getBootstrapBrokers"),
		Parameters:         map[string]interface{}{"ClusterArn": s.ClusterArn},
		PhysicalResourceId: customresources.PhysicalResourceId_Of(jsii.String("bootstrap-brokers")),
		OutputPaths:        &[]*string{jsii.String("BootstrapBrokerStringSaslIam")},
	}
	bootstrap := customresources.NewAwsCustomResource(stack, jsii.String("BootstrapBrokers"), &customresources.AwsCustomResourceProps{
		// Its own log group, kept a month and deleted with the stack (CDK's default for its
		// provider is two years, retained).
		LogGroup: awslogs.NewLogGroup(stack, jsii.String("BootstrapBrokersLogs"), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_ONE_MONTH,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		}),
		OnCreate:            call,
		OnUpdate:            call,
		InstallLatestAwsSdk: jsii.Bool(false),
		Policy: customresources.AwsCustomResourcePolicy_FromStatements(&[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("kafka:GetBootstrapBrokers"),
				Resources: &[]*string{s.ClusterArn},
			}),
		}),
	})
	if s.Cluster != nil {
		bootstrap.Node().AddDependency(s.Cluster)
	}
	s.BootstrapBrokers = bootstrap.GetResponseField(jsii.String("BootstrapBrokerStringSaslIam"))

	nagSuppress(stack, "AwsSolutions-IAM4",
		"CDK's AwsCustomResource provider (reads the bootstrap string) logs through the AWS managed basic execution policy",
		lambdaBasicExecution)
	return s
}

// kafkaArn is arn:<partition>:kafka:<region>:<account>:<kind>/<cluster name>/<cluster uuid>/<name>,
// the form of MSK topic and group ARNs for IAM access control. An imported cluster's ARN is
// parsed here; a created cluster's UUID is known at deploy time only.
func (s *KafkaStack) kafkaArn(kind, name string) *string {
	if s.Cluster == nil {
		arn := *s.ClusterArn // validated by Config: arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid>
		prefix, rest, _ := strings.Cut(arn, ":cluster/")
		return jsii.String(prefix + ":" + kind + "/" + rest + "/" + name)
	}
	uuid := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), s.ClusterArn, jsii.Number(3)))
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":kafka:"), awscdk.Aws_REGION(),
		jsii.String(":"), awscdk.Aws_ACCOUNT_ID(), jsii.String(":" + kind + "/" + *s.Cluster.ClusterName() + "/"),
		uuid, jsii.String("/" + name),
	})
}

// NagSuppressKafkaWildcards records on construct why its policy may name this user's topics
// (<userId>.*) and the given groups and topics by prefix: MSK topic and group ARNs end in the
// name, so a trailing '*' is a name prefix on this one cluster, not a wildcard over resources.
func (s *KafkaStack) NagSuppressKafkaWildcards(construct interface{}, prefixes ...string) {
	names := []string{regexp.QuoteMeta(s.userID + ".")}
	for _, p := range prefixes {
		names = append(names, regexp.QuoteMeta(p))
	}
	reason := "MSK topic and group ARNs end in the name: a trailing * is a name prefix on this one cluster " +
		"(this user's topics " + s.userID + ".*"
	if len(prefixes) > 0 {
		reason += "; " + strings.Join(prefixes, "*, ") + "*"
	}
	nagSuppress(construct, "AwsSolutions-IAM5", reason+")",
		fmt.Sprintf(`/^Resource::arn:.*:kafka:.*:(topic|group)\/.*\/(%s)\*$/`, strings.Join(names, "|")))
}

// TopicArn is the IAM resource of the topics matching name (which may end in '*').
func (s *KafkaStack) TopicArn(name string) *string { return s.kafkaArn("topic", name) }

// GroupArn is the IAM resource of the consumer groups matching name (which may end in '*').
func (s *KafkaStack) GroupArn(name string) *string { return s.kafkaArn("group", name) }

// UserTopicsArn matches the three topics of this user: <userId>.*.
func (s *KafkaStack) UserTopicsArn() *string { return s.TopicArn(s.userID + ".*") }

// GrantConnect lets grantee connect to the cluster and describe it.
func (s *KafkaStack) GrantConnect(grantee awsiam.IGrantable) {
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kafka-cluster:Connect", "kafka-cluster:DescribeCluster"),
		ResourceArns: &[]*string{s.ClusterArn},
	})
}

// GrantProduce lets grantee connect and write (idempotently too) to this user's topics.
func (s *KafkaStack) GrantProduce(grantee awsiam.IGrantable) {
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"),
		ResourceArns: &[]*string{s.ClusterArn},
	})
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"),
		ResourceArns: &[]*string{s.UserTopicsArn()},
	})
}

// GrantConsume lets grantee connect, read this user's topics and use the consumer groups that
// match group (e.g. "connect-*").
func (s *KafkaStack) GrantConsume(grantee awsiam.IGrantable, group string) {
	s.GrantConnect(grantee)
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"),
		ResourceArns: &[]*string{s.UserTopicsArn()},
	})
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"),
		ResourceArns: &[]*string{s.GroupArn(group)},
	})
}
