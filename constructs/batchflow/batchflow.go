// Package batchflow is the L3 construct for a batch job whose analyses run in Athena: a Step
// Functions state machine that runs a Fargate task to completion (ecs:runTask.sync), then each
// query in an Athena workgroup (athena:startQueryExecution.sync), then copies each query's
// result file (<QueryExecutionId>.csv under the workgroup's output location) to a fixed key,
// <PublishPrefix><name>.csv. Its role may do exactly that and nothing else: CDK's tasks would add
// their own broad grants (S3 and Glue on every resource, Glue writes), so the state machine gets
// its role without policy updates and this construct states every permission itself. Every
// execution is logged (all events, with data) and traced with X-Ray.
package batchflow

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/pinpipe/pinpipe/constructs/athena"
	"github.com/pinpipe/pinpipe/constructs/batchtask"
)

// Props configures a Flow. Task, Workgroup, Database, Tables, Queries, Publish and
// PublishPrefix are required.
type Props struct {
	// Task runs first, to completion; a task that fails fails the execution.
	Task *batchtask.BatchTask
	// RebuildVariable, when set, is a container environment variable the execution sets to
	// "true" when its input holds "full": true, and to "false" otherwise (e.g. PINPIPE_FULL).
	RebuildVariable string
	// Workgroup runs the queries, in Database; Tables are what they read.
	Workgroup *athena.Workgroup
	Database  string
	Tables    []athena.Table
	// Queries maps an output name (letters, digits and _) to its SQL in Athena's dialect. They run
	// one after another, in name order, after the task; each result is copied to
	// <PublishPrefix><name>.csv of Publish.
	Queries       map[string]string
	Publish       awss3.IBucket
	PublishPrefix string
	// Name of the state machine. Default: generated.
	Name string
	// Timeout of an execution. Default 12 hours; QueryTimeout of each query, default 30 minutes.
	Timeout, QueryTimeout awscdk.Duration
	// LogRetention of the execution log group. Default one month.
	LogRetention awslogs.RetentionDays
}

// Flow is the state machine and what it is made of.
type Flow struct {
	constructs.Construct
	StateMachine awsstepfunctions.StateMachine
	Role         awsiam.Role
	LogGroup     awslogs.LogGroup
}

var (
	outputName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// A state machine name (Step Functions CreateStateMachine: 1-80, and the log group's name
	// holds it).
	machineName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
)

func validate(p *Props) error {
	switch {
	case p.Task == nil:
		return fmt.Errorf("batchflow.Props.Task: required")
	case p.Workgroup == nil:
		return fmt.Errorf("batchflow.Props.Workgroup: required")
	case p.Database == "":
		return fmt.Errorf("batchflow.Props.Database: required")
	case len(p.Tables) == 0:
		return fmt.Errorf("batchflow.Props.Tables: at least one table the queries read")
	case len(p.Queries) == 0:
		return fmt.Errorf("batchflow.Props.Queries: at least one query")
	case p.Publish == nil:
		return fmt.Errorf("batchflow.Props.Publish: required (the bucket the results are copied to)")
	case p.PublishPrefix == "" || !strings.HasSuffix(p.PublishPrefix, "/") || strings.HasPrefix(p.PublishPrefix, "/") || strings.Contains(p.PublishPrefix, "*"):
		return fmt.Errorf("batchflow.Props.PublishPrefix: %q must be a key prefix ending with /", p.PublishPrefix)
	case p.Name != "" && !machineName.MatchString(p.Name):
		return fmt.Errorf("batchflow.Props.Name: %q must be 1-80 letters, digits, - and _", p.Name)
	case p.RebuildVariable != "" && !envName.MatchString(p.RebuildVariable):
		return fmt.Errorf("batchflow.Props.RebuildVariable: %q is not an environment variable name", p.RebuildVariable)
	}
	for name, q := range p.Queries {
		if !outputName.MatchString(name) {
			return fmt.Errorf("batchflow.Props.Queries: name %q must be 1-64 letters, digits and _", name)
		}
		if strings.TrimSpace(q) == "" {
			return fmt.Errorf("batchflow.Props.Queries[%s]: empty SQL", name)
		}
		if t := strings.TrimSpace(q); strings.HasPrefix(t, "{%") && strings.HasSuffix(t, "%}") {
			return fmt.Errorf("batchflow.Props.Queries[%s]: the SQL would be read as a JSONata expression", name)
		}
	}
	return nil
}

// PublishKey is the key a query's result is copied to.
func PublishKey(prefix, name string) string { return prefix + name + ".csv" }

// Names returns the query names in the order the flow runs them.
func Names(queries map[string]string) []string {
	names := make([]string, 0, len(queries))
	for n := range queries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New declares the state machine, its role and its log group. Invalid props panic with a message
// naming the field, as CDK constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *Flow {
	if props == nil {
		panic("batchflow.Props: required")
	}
	if err := validate(props); err != nil {
		panic(err.Error())
	}
	p := *props
	if p.Timeout == nil {
		p.Timeout = awscdk.Duration_Hours(jsii.Number(12))
	}
	if p.QueryTimeout == nil {
		p.QueryTimeout = awscdk.Duration_Minutes(jsii.Number(30))
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	stack := awscdk.Stack_Of(c)
	f := &Flow{Construct: c}
	task := p.Task
	names := Names(p.Queries)

	// The role: exactly what the states below call, and the log delivery and tracing Step
	// Functions does for the state machine (Step Functions Developer Guide, IAM policies for
	// integrated services: ecs:runTask.sync, athena:startQueryExecution.sync, aws-sdk).
	statements := task.RunTaskStatements()
	statements = append(statements,
		// .sync follows the task it started (task ARNs carry the cluster name) and stops it when
		// the execution is stopped.
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("ecs:DescribeTasks", "ecs:StopTask"),
			Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("task"),
				ResourceName: jsii.String(*task.Cluster.ClusterName() + "/*")})},
		}),
		// .sync learns that the task stopped from an EventBridge rule Step Functions manages.
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("events:PutTargets", "events:PutRule", "events:DescribeRule"),
			Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("rule"),
				ResourceName: jsii.String("StepFunctionsGetEventsForECSTaskRule")})},
		}))
	statements = append(statements, p.Workgroup.QueryStatements(stack, p.Tables)...)
	var published []*string
	for _, n := range names {
		published = append(published, p.Publish.ArnForObjects(jsii.String(PublishKey(p.PublishPrefix, n))))
	}
	// The copy reads the result file (QueryStatements) and writes the fixed key, nothing else.
	statements = append(statements,
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("s3:PutObject"), Resources: &published}),
		// Log delivery and X-Ray take no resource (Step Functions Developer Guide, logging and
		// X-Ray permissions).
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
				"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"),
			Resources: jsii.Strings("*"),
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"),
			Resources: jsii.Strings("*"),
		}))
	f.Role = awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String("Step Functions: runs the batch task, then its Athena queries, and publishes their results"),
		// Inline: the role is whole when the state machine is created (Step Functions checks its
		// log delivery permissions then).
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"flow": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements}),
		},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(f.Role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("each wildcard is scoped: RunTask on any revision of the one task family in its cluster (condition ecs:cluster); " +
			"DescribeTasks/StopTask on the tasks of that cluster; the S3 objects under the queried tables' prefixes and the workgroup's " +
			"results prefix (keys not known in advance); log delivery and X-Ray actions take no resource"),
	}}, jsii.Bool(true))

	lp := &awslogs.LogGroupProps{Retention: p.LogRetention, RemovalPolicy: awscdk.RemovalPolicy_DESTROY}
	if p.Name != "" {
		// Vended-log groups under /aws/vendedlogs/ keep the log resource policy small.
		lp.LogGroupName = jsii.String("/aws/vendedlogs/states/" + p.Name)
	}
	f.LogGroup = awslogs.NewLogGroup(c, jsii.String("Logs"), lp)

	// The definition, in JSONata: the task, then for each query its run and the copy of its
	// result file to its fixed key.
	run := &awsstepfunctionstasks.EcsRunTaskJsonataProps{
		StateName:          jsii.String("Run the batch task"),
		IntegrationPattern: awsstepfunctions.IntegrationPattern_RUN_JOB,
		Cluster:            task.Cluster,
		TaskDefinition:     task.TaskDefinition,
		LaunchTarget: awsstepfunctionstasks.NewEcsFargateLaunchTarget(&awsstepfunctionstasks.EcsFargateLaunchTargetOptions{
			PlatformVersion: awsecs.FargatePlatformVersion_LATEST,
		}),
		Subnets:        &awsec2.SubnetSelection{Subnets: task.Subnets.Subnets},
		SecurityGroups: &[]awsec2.ISecurityGroup{task.SecurityGroup},
		AssignPublicIp: jsii.Bool(false),
	}
	if p.RebuildVariable != "" {
		run.ContainerOverrides = &[]*awsstepfunctionstasks.ContainerOverride{{
			ContainerDefinition: task.Container,
			Environment: &[]*awsstepfunctionstasks.TaskEnvironmentVariable{{
				Name:  jsii.String(p.RebuildVariable),
				Value: jsii.String(RebuildExpression),
			}},
		}}
	}
	var chain awsstepfunctions.Chain = awsstepfunctions.Chain_Start(awsstepfunctionstasks.EcsRunTask_Jsonata(c, jsii.String("RunTask"), run))
	for _, n := range names {
		q := awsstepfunctionstasks.AthenaStartQueryExecution_Jsonata(c, jsii.String("Query_"+n), &awsstepfunctionstasks.AthenaStartQueryExecutionJsonataProps{
			StateName:          jsii.String("Query " + n),
			IntegrationPattern: awsstepfunctions.IntegrationPattern_RUN_JOB,
			QueryString:        jsii.String(p.Queries[n]),
			QueryExecutionContext: &awsstepfunctionstasks.QueryExecutionContext{
				CatalogName: jsii.String(athena.DataCatalog), DatabaseName: jsii.String(p.Database),
			},
			WorkGroup:   jsii.String(p.Workgroup.Name),
			TaskTimeout: awsstepfunctions.Timeout_Duration(p.QueryTimeout),
		})
		cp := awsstepfunctionstasks.CallAwsService_Jsonata(c, jsii.String("Publish_"+n), &awsstepfunctionstasks.CallAwsServiceJsonataProps{
			StateName:    jsii.String("Publish " + n),
			Service:      jsii.String("s3"),
			Action:       jsii.String("copyObject"),
			IamResources: &[]*string{p.Publish.ArnForObjects(jsii.String(PublishKey(p.PublishPrefix, n)))},
			Parameters: &map[string]interface{}{
				"Bucket":     p.Publish.BucketName(),
				"Key":        PublishKey(p.PublishPrefix, n),
				"CopySource": CopySourceExpression,
			},
		})
		chain = chain.Next(q).Next(cp)
	}

	sp := &awsstepfunctions.StateMachineProps{
		DefinitionBody: awsstepfunctions.DefinitionBody_FromChainable(chain),
		QueryLanguage:  awsstepfunctions.QueryLanguage_JSONATA,
		Comment:        jsii.String("Runs the batch task, then " + fmt.Sprint(len(names)) + " Athena queries; publishes each result as <name>.csv"),
		// The tasks' own grants are broad; the role above states what the flow needs.
		Role:           f.Role.WithoutPolicyUpdates(nil),
		Timeout:        p.Timeout,
		TracingEnabled: jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          f.LogGroup,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(true),
		},
	}
	if p.Name != "" {
		sp.StateMachineName = jsii.String(p.Name)
	}
	f.StateMachine = awsstepfunctions.NewStateMachine(c, jsii.String("StateMachine"), sp)
	return f
}

// RebuildExpression is the JSONata value of Props.RebuildVariable: "true" when the execution's
// input holds "full": true.
const RebuildExpression = "{% $states.input.full = true ? 'true' : 'false' %}"

// CopySourceExpression is the copy's source: the result file Athena reports for the query the
// previous state ran, s3://<bucket>/<key> as <bucket>/<key>.
const CopySourceExpression = "{% $substringAfter($states.input.QueryExecution.ResultConfiguration.OutputLocation, 's3://') %}"
