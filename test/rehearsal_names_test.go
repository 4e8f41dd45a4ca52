package test

// The names table: for each resource type the app names explicitly, where its name is, how far
// the name must be unique (its scope), and the limits the service puts on it. Scopes and limits
// are from the AWS documentation of each service (the page is named beside each entry); the
// registry schemas state few of them.

// Name scopes.
const (
	// ScopePartition: unique across every account of the partition (S3 bucket names).
	ScopePartition = "partition"
	// ScopeAccount: unique in the account, all regions together (IAM, CloudWatch dashboards).
	ScopeAccount = "account"
	// ScopeRegion: unique per account and region.
	ScopeRegion = "region"
	// ScopeParent: unique within the parent resource named by Parent (per account and region).
	ScopeParent = "parent"
	// ScopeNone: names need not be unique (two resources may share one).
	ScopeNone = "none"
)

// physicalName describes the explicit name of a resource type.
type physicalName struct {
	// Path of the name in Properties ("BucketName", "DatabaseInput/Name").
	Path string
	// Scope of uniqueness; Parent is the property naming the parent for ScopeParent ("" in it
	// means the service default, DefaultParent).
	Scope, Parent, DefaultParent string
	// CaseInsensitive: the service does not tell names apart by case.
	CaseInsensitive bool
	// Max length, and the pattern a name must match ("" when the registry schema states it).
	Max     int
	Pattern string
	// Ref: Ref of the resource returns this name.
	Ref bool
	// Doc is where the scope and limits are documented.
	Doc string
}

var physicalNames = map[string]physicalName{
	"AWS::S3::Bucket": {Path: "BucketName", Scope: ScopePartition, Max: 63, Pattern: `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`, Ref: true,
		Doc: "S3 User Guide, Bucket naming rules: unique across all AWS accounts in all Regions within a partition; 3-63 characters"},
	"AWS::IAM::Role": {Path: "RoleName", Scope: ScopeAccount, CaseInsensitive: true, Max: 64, Pattern: `^[\w+=,.@-]+$`, Ref: true,
		Doc: "IAM User Guide, IAM object quotas and names: role names unique in the account, not case-sensitive, 64 characters; IAM is global"},
	"AWS::IAM::ManagedPolicy": {Path: "ManagedPolicyName", Scope: ScopeAccount, CaseInsensitive: true, Max: 128, Pattern: `^[\w+=,.@-]+$`,
		Doc: "IAM User Guide, IAM names: policy names unique in the account, 128 characters"},
	"AWS::IAM::InstanceProfile": {Path: "InstanceProfileName", Scope: ScopeAccount, CaseInsensitive: true, Max: 128, Pattern: `^[\w+=,.@-]+$`, Ref: true,
		Doc: "IAM User Guide, IAM names: instance profile names unique in the account, 128 characters"},
	"AWS::IAM::Policy": {Path: "PolicyName", Scope: ScopeParent, Parent: "Roles", Max: 128, Pattern: `^[\w+=,.@-]+$`,
		Doc: "IAM User Guide: an inline policy's name is unique among the policies of its role"},
	"AWS::CloudWatch::Dashboard": {Path: "DashboardName", Scope: ScopeAccount, Max: 255, Pattern: `^[A-Za-z0-9_-]+$`, Ref: true,
		Doc: "CloudFormation reference AWS::CloudWatch::Dashboard: all dashboards in your account are global, not region-specific; 1-255 of A-Za-z0-9 - _"},
	"AWS::CloudWatch::Alarm": {Path: "AlarmName", Scope: ScopeRegion, Max: 255, Ref: true,
		Doc: "CloudWatch PutMetricAlarm: the name must be unique within the Region of the account; 1-255"},
	"AWS::Kinesis::Stream": {Path: "Name", Scope: ScopeRegion, Max: 128, Pattern: `^[a-zA-Z0-9_.-]+$`, Ref: true,
		Doc: "Kinesis CreateStream: unique in the account and Region; 1-128 of [a-zA-Z0-9_.-]"},
	"AWS::KinesisFirehose::DeliveryStream": {Path: "DeliveryStreamName", Scope: ScopeRegion, Max: 64, Pattern: `^[a-zA-Z0-9._-]+$`, Ref: true,
		Doc: "Firehose CreateDeliveryStream: unique per account and Region; 1-64 of [a-zA-Z0-9_.-]"},
	"AWS::MSK::Cluster": {Path: "ClusterName", Scope: ScopeRegion, Max: 64, Pattern: `^[a-zA-Z0-9-]+$`,
		Doc: "MSK CreateCluster: cluster name 1-64; unique per account and Region"},
	"AWS::MSK::Topic": {Path: "TopicName", Scope: ScopeParent, Parent: "ClusterArn", Max: 249, Pattern: `^[a-zA-Z0-9._-]+$`,
		Doc: "Apache Kafka: topic names unique in a cluster, up to 249 of [a-zA-Z0-9._-]"},
	"AWS::KafkaConnect::Connector": {Path: "ConnectorName", Scope: ScopeRegion, Max: 128, Pattern: `^[a-zA-Z0-9-]+$`,
		Doc: "CloudFormation reference AWS::KafkaConnect::Connector: the connector name must be unique and can include up to 128 characters of a-z, A-Z, 0-9 and -"},
	"AWS::KafkaConnect::CustomPlugin": {Path: "Name", Scope: ScopeRegion, Max: 128,
		Doc: "MSK Connect CreateCustomPlugin: unique per account and Region; 1-128"},
	"AWS::KafkaConnect::WorkerConfiguration": {Path: "Name", Scope: ScopeRegion, Max: 128,
		Doc: "MSK Connect CreateWorkerConfiguration: unique per account and Region; 1-128"},
	"AWS::Lambda::Function": {Path: "FunctionName", Scope: ScopeRegion, Max: 64, Pattern: `^[a-zA-Z0-9_-]+$`, Ref: true,
		Doc: "Lambda CreateFunction: function names unique per account and Region, 64 characters"},
	"AWS::Logs::LogGroup": {Path: "LogGroupName", Scope: ScopeRegion, Max: 512, Pattern: `^[.\-_/#A-Za-z0-9]+$`, Ref: true,
		Doc: "CloudWatch Logs CreateLogGroup: unique within a Region for an account; 1-512 of [.-_/#A-Za-z0-9]"},
	"AWS::Logs::LogStream": {Path: "LogStreamName", Scope: ScopeParent, Parent: "LogGroupName", Max: 512,
		Doc: "CloudWatch Logs CreateLogStream: unique within the log group"},
	"AWS::SNS::Topic": {Path: "TopicName", Scope: ScopeRegion, Max: 256, Pattern: `^[A-Za-z0-9_-]+(\.fifo)?$`,
		Doc: "SNS CreateTopic: names unique in the account and Region; up to 256 of letters, digits, - and _"},
	"AWS::SQS::Queue": {Path: "QueueName", Scope: ScopeRegion, Max: 80, Pattern: `^[A-Za-z0-9_-]+(\.fifo)?$`,
		Doc: "SQS CreateQueue: unique in the account and Region; up to 80 characters"},
	"AWS::SecretsManager::Secret": {Path: "Name", Scope: ScopeRegion, Max: 512,
		Doc: "Secrets Manager CreateSecret: unique within the account and Region; up to 512"},
	"AWS::ECS::Cluster": {Path: "ClusterName", Scope: ScopeRegion, Max: 255, Pattern: `^[a-zA-Z0-9_-]+$`, Ref: true,
		Doc: "ECS CreateCluster: unique in the Region; up to 255 letters, digits, - and _"},
	"AWS::ECS::TaskDefinition": {Path: "Family", Scope: ScopeNone, Max: 255, Pattern: `^[a-zA-Z0-9_-]+$`,
		Doc: "ECS RegisterTaskDefinition: a family holds revisions; registering the same family adds a revision (no conflict)"},
	"AWS::MWAA::Environment": {Path: "Name", Scope: ScopeRegion, Max: 80, Pattern: `^[a-zA-Z][0-9a-zA-Z_-]*$`, Ref: true,
		Doc: "MWAA CreateEnvironment: unique per account and Region; 1-80, starting with a letter"},
	"AWS::Glue::Database": {Path: "DatabaseInput/Name", Scope: ScopeRegion, Max: 255,
		Doc: "Glue Data Catalog: one catalog per account and Region; database names unique in it, 1-255, stored in lower case"},
	"AWS::Glue::Table": {Path: "TableInput/Name", Scope: ScopeParent, Parent: "DatabaseName", Max: 255,
		Doc: "Glue CreateTable: table names unique in their database, 1-255, stored in lower case"},
	"AWS::Athena::WorkGroup": {Path: "Name", Scope: ScopeRegion, Max: 128, Pattern: `^[a-zA-Z0-9._-]{1,128}$`, Ref: true,
		Doc: "Athena CreateWorkGroup: unique per account and Region; 1-128 of [a-zA-Z0-9._-]"},
	"AWS::Athena::NamedQuery": {Path: "Name", Scope: ScopeNone, Max: 128,
		Doc: "Athena CreateNamedQuery: named queries are identified by id; names may repeat"},
	"AWS::EC2::LaunchTemplate": {Path: "LaunchTemplateName", Scope: ScopeRegion, Max: 128, Pattern: `^[a-zA-Z0-9().\-/_]+$`,
		Doc: "EC2 CreateLaunchTemplate: a launch template name must be unique in the account and Region; 3-128 of [a-zA-Z0-9().-/_]"},
	"AWS::EC2::SecurityGroup": {Path: "GroupName", Scope: ScopeParent, Parent: "VpcId", Max: 255,
		Doc: "EC2 CreateSecurityGroup: names unique within the VPC; up to 255"},
	"AWS::ElasticLoadBalancingV2::LoadBalancer": {Path: "Name", Scope: ScopeRegion, Max: 32, Pattern: `^[a-zA-Z0-9][a-zA-Z0-9-]*$`,
		Doc: "ELB CreateLoadBalancer: unique per Region for the account; up to 32 alphanumerics and hyphens"},
	"AWS::ElasticLoadBalancingV2::TargetGroup": {Path: "Name", Scope: ScopeRegion, Max: 32, Pattern: `^[a-zA-Z0-9][a-zA-Z0-9-]*$`,
		Doc: "ELB CreateTargetGroup: unique per Region for the account; up to 32 alphanumerics and hyphens"},
	"AWS::Scheduler::Schedule": {Path: "Name", Scope: ScopeParent, Parent: "GroupName", DefaultParent: "default", Max: 64, Pattern: `^[0-9a-zA-Z-_.]+$`,
		Doc: "EventBridge Scheduler CreateSchedule: unique within its schedule group (default: default); 1-64 of [0-9a-zA-Z-_.]"},
	"AWS::Scheduler::ScheduleGroup": {Path: "Name", Scope: ScopeRegion, Max: 64,
		Doc: "EventBridge Scheduler CreateScheduleGroup: unique per account and Region"},
	"AWS::Events::Rule": {Path: "Name", Scope: ScopeParent, Parent: "EventBusName", DefaultParent: "default", Max: 64, Pattern: `^[.\-_A-Za-z0-9]+$`,
		Doc: "EventBridge PutRule: rule names unique on their event bus; 1-64 of [.-_A-Za-z0-9]"},
	"AWS::SSM::Parameter": {Path: "Name", Scope: ScopeRegion, Max: 2048,
		Doc: "SSM PutParameter: unique per account and Region"},
	"AWS::KMS::Alias": {Path: "AliasName", Scope: ScopeRegion, Max: 256, Pattern: `^alias/[a-zA-Z0-9/_-]+$`,
		Doc: "KMS CreateAlias: unique in the account and Region"},
	"AWS::ApiGateway::RestApi": {Path: "Name", Scope: ScopeNone,
		Doc: "API Gateway: REST APIs are identified by id; names may repeat"},
	"AWS::ApiGateway::ApiKey": {Path: "Name", Scope: ScopeNone, Max: 1024,
		Doc: "API Gateway: API keys are identified by id; names may repeat"},
	"AWS::ApiGateway::UsagePlan": {Path: "UsagePlanName", Scope: ScopeNone,
		Doc: "API Gateway: usage plans are identified by id; names may repeat"},
	"AWS::ApiGateway::VpcLink": {Path: "Name", Scope: ScopeNone,
		Doc: "API Gateway: VPC links are identified by id; names may repeat"},
	"AWS::ApiGateway::Stage": {Path: "StageName", Scope: ScopeParent, Parent: "RestApiId", Max: 128, Pattern: `^[a-zA-Z0-9_-]+$`,
		Doc: "API Gateway CreateStage: stage names unique in their API; letters, digits, - and _, up to 128"},
	"AWS::ApiGateway::Model": {Path: "Name", Scope: ScopeParent, Parent: "RestApiId", Pattern: `^[a-zA-Z0-9]+$`,
		Doc: "API Gateway CreateModel: model names unique in their API, alphanumeric"},
	"AWS::ApiGateway::RequestValidator": {Path: "Name", Scope: ScopeParent, Parent: "RestApiId",
		Doc: "API Gateway CreateRequestValidator: identified by id within the API"},
}
