// Package mwaa is the L3 construct for an Amazon Managed Workflows for Apache Airflow
// environment that is private by default: the web server is reachable only from inside the VPC,
// the environment sits in two private subnets behind a security group that admits only itself,
// its DAGs come from a versioned bucket that the construct fills before the environment is
// created, and its execution role may do what MWAA itself needs and nothing else until the
// caller grants more (ExecutionRole).
package mwaa

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsmwaa"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/pinpipe/pinpipe/constructs/physicalname"
)

// Props configures an Environment. Name, Vpc and Dags are required.
type Props struct {
	// Name is the environment name's stable part (letters, digits and -; starts with a letter;
	// up to 71): the name is "<Name>-<8 hex digits>", the digits following the subnets.
	Name string
	// Vpc and Subnets: MWAA needs exactly two private subnets in two AZs. Default: the first
	// private subnet with egress of each of the first two AZs.
	Vpc     awsec2.IVpc
	Subnets *awsec2.SubnetSelection
	// Dags maps a file name under dags/ to its content. Content may hold deploy-time values
	// (tokens such as subnet IDs); they are resolved when the files are uploaded.
	Dags map[string]string
	// AirflowVersion. Default "2.10.3".
	AirflowVersion string
	// EnvironmentClass. Default "mw1.small", MWAA's own default (mw1.micro, with one scheduler
	// and one worker, is enough for a daily job and costs less).
	EnvironmentClass string
	// PublicWebServer exposes the Airflow UI on the internet (still behind IAM). Default false.
	PublicWebServer bool
	// AccessLogs, when set, receives the DAG bucket's server access logs.
	AccessLogs awss3.IBucket
}

// Environment is the MWAA environment and what it is made of.
type Environment struct {
	constructs.Construct
	Environment   awsmwaa.CfnEnvironment
	DagBucket     awss3.Bucket
	Deployment    awss3deployment.BucketDeployment
	ExecutionRole awsiam.Role
	SecurityGroup awsec2.SecurityGroup
	// Name of the environment: Props.Name and a digest of its create-only properties (a
	// deploy-time value).
	Name *string
	// Arn of the environment.
	Arn string
}

var (
	envName = regexp.MustCompile(`^[a-zA-Z][0-9a-zA-Z-]{0,70}$`)
	// A Python module name (an identifier) and .py: Airflow imports DAG files as modules.
	dagFile = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.py$`)
)

func validate(p *Props) error {
	if !envName.MatchString(p.Name) {
		return fmt.Errorf("mwaa.Props.Name: %q must start with a letter and hold only letters, digits and - (up to 71, the digest takes 9 of MWAA's 80)", p.Name)
	}
	if p.Vpc == nil {
		return fmt.Errorf("mwaa.Props.Vpc: required")
	}
	if len(p.Dags) == 0 {
		return fmt.Errorf("mwaa.Props.Dags: at least one DAG file is required")
	}
	for name := range p.Dags {
		if !dagFile.MatchString(name) {
			return fmt.Errorf("mwaa.Props.Dags: file name %q must be a Python module name ending in .py", name)
		}
	}
	return nil
}

// New declares the environment. Invalid props panic with a message naming the field, as CDK
// constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *Environment {
	if props == nil {
		panic("mwaa.Props: required")
	}
	if err := validate(props); err != nil {
		panic(err.Error())
	}
	p := *props
	if p.AirflowVersion == "" {
		p.AirflowVersion = "2.10.3"
	}
	if p.EnvironmentClass == "" {
		p.EnvironmentClass = "mw1.small"
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	stack := awscdk.Stack_Of(c)
	e := &Environment{Construct: c}

	subnets := p.Vpc.SelectSubnets(p.Subnets)
	if p.Subnets == nil {
		subnets = p.Vpc.SelectSubnets(&awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, OnePerAz: jsii.Bool(true)})
	}
	ids := *subnets.SubnetIds
	if len(ids) < 2 {
		panic(fmt.Sprintf("mwaa.Props.Subnets: MWAA needs two private subnets in two AZs, the selection has %d", len(ids)))
	}
	ids = ids[:2]

	// MWAA replaces an environment whose subnets change (a create-only property): the name
	// ends in a digest of them, so the replacement does not collide with the environment it
	// replaces.
	e.Name = physicalname.New(c, "Name", &physicalname.Props{
		Prefix: p.Name, MaxLength: 80,
		Inputs: map[string]interface{}{"/NetworkConfiguration/SubnetIds": &ids},
	}).Name
	e.Arn = *stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("airflow"), Resource: jsii.String("environment"), ResourceName: e.Name,
	})

	bp := &awss3.BucketProps{
		Versioned:         jsii.Bool(true), // MWAA requires it
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		// The DAGs are rendered from this app at every deploy: nothing here is kept data.
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		AutoDeleteObjects: jsii.Bool(true),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
		}},
	}
	if p.AccessLogs != nil {
		bp.ServerAccessLogsBucket = p.AccessLogs
		bp.ServerAccessLogsPrefix = jsii.String("mwaa-dags/")
	}
	e.DagBucket = awss3.NewBucket(c, jsii.String("Dags"), bp)
	if p.AccessLogs == nil {
		cdknag.NagSuppressions_AddResourceSuppressions(e.DagBucket, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-S1"),
			Reason: jsii.String("No access-log bucket was given: the DAG bucket holds only files this app renders at deploy time"),
		}}, jsii.Bool(false))
	}

	names := make([]string, 0, len(p.Dags))
	for n := range p.Dags {
		names = append(names, n)
	}
	sort.Strings(names)
	var sources []awss3deployment.ISource
	for _, n := range names {
		sources = append(sources, awss3deployment.Source_Data(jsii.String(n), jsii.String(p.Dags[n]), nil))
	}
	e.Deployment = awss3deployment.NewBucketDeployment(c, jsii.String("DeployDags"), &awss3deployment.BucketDeploymentProps{
		Sources:              &sources,
		DestinationBucket:    e.DagBucket,
		DestinationKeyPrefix: jsii.String("dags/"),
		Prune:                jsii.Bool(true),
		RetainOnDelete:       jsii.Bool(false),
		// The upload handler's log group, kept a month and deleted with the stack (CDK's default
		// for its provider is two years, retained).
		LogGroup: awslogs.NewLogGroup(c, jsii.String("DeployDagsLogs"), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_ONE_MONTH,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		}),
	})

	suppressDeploymentHandler(stack)

	e.SecurityGroup = awsec2.NewSecurityGroup(c, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              p.Vpc,
		Description:      jsii.String("MWAA " + p.Name + ": traffic only between its own components"),
		AllowAllOutbound: jsii.Bool(true),
	})
	e.SecurityGroup.AddIngressRule(e.SecurityGroup, awsec2.Port_AllTraffic(), jsii.String("MWAA components talk to each other (required self-reference)"), nil)

	e.ExecutionRole = awsiam.NewRole(c, jsii.String("ExecutionRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewCompositePrincipal(
			awsiam.NewServicePrincipal(jsii.String("airflow.amazonaws.com"), nil),
			awsiam.NewServicePrincipal(jsii.String("airflow-env.amazonaws.com"), nil),
		),
		Description: jsii.String("MWAA " + p.Name + " execution role"),
	})
	e.DagBucket.GrantRead(e.ExecutionRole, nil)
	add := func(actions []string, resources []string, conds map[string]interface{}) {
		sp := &awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...)}
		if conds != nil {
			sp.Conditions = &conds
		}
		e.ExecutionRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(sp))
	}
	region, account := *stack.Region(), *stack.Account()
	logGroups := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:airflow-%s-*", *stack.Partition(), region, account, *e.Name)
	add([]string{"airflow:PublishMetrics"}, []string{e.Arn}, nil)
	add([]string{"logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
		"logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults"}, []string{logGroups}, nil)
	add([]string{"logs:DescribeLogGroups", "cloudwatch:PutMetricData", "s3:GetAccountPublicAccessBlock"}, []string{"*"}, nil)
	add([]string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
		"sqs:ReceiveMessage", "sqs:SendMessage"},
		[]string{fmt.Sprintf("arn:%s:sqs:%s:*:airflow-celery-*", *stack.Partition(), region)}, nil)
	e.ExecutionRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:      jsii.Strings("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"),
		NotResources: jsii.Strings(fmt.Sprintf("arn:%s:kms:*:%s:key/*", *stack.Partition(), account)),
		Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{
			"kms:ViaService": []string{"sqs." + region + ".amazonaws.com"},
		}},
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(e.ExecutionRole, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The MWAA execution role policy AWS documents: log groups airflow-<env>-* and the Celery queues airflow-celery-* " +
			"are created by MWAA with generated names; DescribeLogGroups, PutMetricData and GetAccountPublicAccessBlock take no resource; " +
			"the DAG bucket is read whole (it holds only DAGs)"),
	}}, jsii.Bool(true))

	// Task logs at INFO (they hold the tasks' output); the components at WARNING: at INFO the
	// scheduler and DAG processor log every parse, some GB a month of CloudWatch Logs at idle.
	module := func(level string) *awsmwaa.CfnEnvironment_ModuleLoggingConfigurationProperty {
		return &awsmwaa.CfnEnvironment_ModuleLoggingConfigurationProperty{Enabled: jsii.Bool(true), LogLevel: jsii.String(level)}
	}
	access := "PRIVATE_ONLY"
	if p.PublicWebServer {
		access = "PUBLIC_ONLY"
	}
	ep := &awsmwaa.CfnEnvironmentProps{
		Name:             e.Name,
		AirflowVersion:   jsii.String(p.AirflowVersion),
		EnvironmentClass: jsii.String(p.EnvironmentClass),
		ExecutionRoleArn: e.ExecutionRole.RoleArn(),
		SourceBucketArn:  e.DagBucket.BucketArn(),
		DagS3Path:        jsii.String("dags"),
		NetworkConfiguration: &awsmwaa.CfnEnvironment_NetworkConfigurationProperty{
			SubnetIds:        &ids,
			SecurityGroupIds: &[]*string{e.SecurityGroup.SecurityGroupId()},
		},
		WebserverAccessMode: jsii.String(access),
		LoggingConfiguration: &awsmwaa.CfnEnvironment_LoggingConfigurationProperty{
			DagProcessingLogs: module("WARNING"), SchedulerLogs: module("WARNING"), TaskLogs: module("INFO"),
			WebserverLogs: module("WARNING"), WorkerLogs: module("WARNING"),
		},
		AirflowConfigurationOptions: map[string]string{
			"core.load_examples": "False",
			// The web server is private: a DAG must run on its schedule without someone
			// unpausing it in the UI first.
			"core.dags_are_paused_at_creation": "False",
		},
	}
	if strings.HasPrefix(p.EnvironmentClass, "mw1.micro") {
		ep.MinWorkers, ep.MaxWorkers, ep.Schedulers = jsii.Number(1), jsii.Number(1), jsii.Number(1)
	} else {
		ep.MinWorkers, ep.MaxWorkers, ep.Schedulers = jsii.Number(1), jsii.Number(2), jsii.Number(2)
	}
	e.Environment = awsmwaa.NewCfnEnvironment(c, jsii.String("Environment"), ep)
	// The DAGs are in the bucket and the role's policy exists before MWAA first looks at them.
	e.Environment.Node().AddDependency(e.Deployment, e.ExecutionRole)
	return e
}

// suppressDeploymentHandler records why cdk-nag's findings on the Lambda function that CDK's
// BucketDeployment adds once per stack are acceptable: it is CDK's own code, not ours.
func suppressDeploymentHandler(stack awscdk.Stack) {
	for _, child := range *stack.Node().Children() {
		if !strings.HasPrefix(*child.Node().Id(), "Custom::CDKBucketDeployment") {
			continue
		}
		cdknag.NagSuppressions_AddResourceSuppressions(child, &[]*cdknag.NagPackSuppression{
			{Id: jsii.String("AwsSolutions-L1"), Reason: jsii.String("CDK's BucketDeployment handler: its runtime is pinned by the CDK version, not by this app")},
			{Id: jsii.String("AwsSolutions-IAM4"), Reason: jsii.String("CDK's BucketDeployment handler writes its own logs with AWSLambdaBasicExecutionRole")},
			{Id: jsii.String("AwsSolutions-IAM5"), Reason: jsii.String("CDK's BucketDeployment handler reads the DAG asset from the CDK asset bucket and replaces the objects of the DAG bucket only")},
		}, jsii.Bool(true))
	}
}
