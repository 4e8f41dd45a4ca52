package stacks

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/analytics/outlayout"
	"github.com/pinpipe/pinpipe/constructs/athena"
	"github.com/pinpipe/pinpipe/constructs/batchflow"
	"github.com/pinpipe/pinpipe/constructs/batchtask"
	"github.com/pinpipe/pinpipe/constructs/golambda"
	"github.com/pinpipe/pinpipe/constructs/mwaa"
	"github.com/pinpipe/pinpipe/constructs/schedule"
)

// Scheduler values of the `scheduler` context key.
const (
	SchedulerMWAA        = "mwaa"
	SchedulerEventBridge = "eventbridge"
)

// Engine values of the `analysisEngine` context key.
const (
	EngineDuckDB = "duckdb"
	EngineAthena = "athena"
)

// The batch job reads the S3 sink's topics/<topic>/... and writes its results, clean tables and
// report under batch/ of the results bucket.
const (
	SinkPrefix  = "topics/"
	BatchPrefix = "batch/"
)

// BatchCron is when the batch job runs, daily at 02:00 UTC, in EventBridge Scheduler's syntax;
// BatchAirflowSchedule is the same time as Airflow's cron.
const (
	BatchCron            = "cron(0 2 * * ? *)"
	BatchAirflowSchedule = "0 2 * * *"
)

// BatchStackProps configures the batch stack.
type BatchStackProps struct {
	awscdk.StackProps
	Config Config
	Vpc    awsec2.IVpc
	// Sink is read under SinkPrefix; Results written under BatchPrefix.
	Sink    awss3.IBucket
	Results awss3.IBucket
	// AccessLogs receives the DAG bucket's access logs.
	AccessLogs awss3.IBucket
	// Query is the query stack (its workgroup, clean tables and analysis queries); required when
	// analysisEngine is athena.
	Query *QueryStack
}

// BatchStack runs the analytics container daily over the sink bucket, incrementally, started by
// Airflow (MWAA) or by EventBridge Scheduler per the `scheduler` context key. With
// analysisEngine athena the container only cleans, and the eight analyses run in Athena after it
// (the DAG's Athena tasks, or a Step Functions state machine the schedule starts).
type BatchStack struct {
	awscdk.Stack
	Task *batchtask.BatchTask
	// Exactly one of Airflow and Schedule is set.
	Airflow  *mwaa.Environment
	Schedule *schedule.Schedule
	// Flow is the state machine the schedule starts (eventbridge scheduler, athena engine).
	Flow *batchflow.Flow
	// DagFile and Dag are the DAG's file name and its source as uploaded (with deploy-time
	// tokens); empty without Airflow.
	DagFile, Dag string
}

// The environment twins of `pinpipe analyse` flags the stack sets (cmd/pinpipe: PINPIPE_ +
// the flag in upper case).
const (
	EnvIncremental  = "PINPIPE_INCREMENTAL"
	EnvFull         = "PINPIPE_FULL"
	EnvSkipAnalysis = "PINPIPE_SKIP_ANALYSIS"
)

// StatePrefixes are the folders of the batch job's state under BatchPrefix (the clean tables, the
// incremental state, the quarantine: analytics/outlayout), where the task lists and deletes
// files, and nowhere else; ReadBackPrefixes those whose files it reads back.
func StatePrefixes() []string { return batchFolders(outlayout.StateFolders) }

// ReadBackPrefixes: see StatePrefixes.
func ReadBackPrefixes() []string { return batchFolders(outlayout.ReadBackFolders) }

func batchFolders(folders []string) []string {
	var out []string
	for _, f := range folders {
		out = append(out, BatchPrefix+f+"/")
	}
	return out
}

// ResultKey is the key of an output's CSV in the results bucket, as the batch job writes it
// (<out>/<output>.csv) and as the Athena runs publish it.
func ResultKey(output string) string { return batchflow.PublishKey(BatchPrefix, output) }

// NewBatchStack declares the task and its schedule.
func NewBatchStack(scope constructs.Construct, id string, props *BatchStackProps) *BatchStack {
	if props == nil || props.Vpc == nil || props.Sink == nil || props.Results == nil {
		panic("stacks.BatchStackProps: Vpc, Sink and Results are required")
	}
	cfg := props.Config
	athenaEngine := cfg.AnalysisEngine == EngineAthena
	if athenaEngine && props.Query == nil {
		panic("stacks.BatchStackProps.Query: required when analysisEngine is athena")
	}
	root, err := golambda.FindModuleRoot()
	if err != nil {
		panic("stacks.NewBatchStack: " + err.Error())
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &BatchStack{Stack: stack}
	// The image's entry point is `pinpipe analyse`; its flags come from their environment twins.
	// Each daily run reads only the sink objects no earlier run read: the state is kept under
	// batch/ (_state/, and the clean tables one file per run).
	env := map[string]*string{
		"PINPIPE_INPUT":   jsii.String("s3://" + *props.Sink.BucketName() + "/" + SinkPrefix),
		"PINPIPE_OUT":     jsii.String("s3://" + *props.Results.BucketName() + "/" + BatchPrefix),
		"PINPIPE_USER_ID": jsii.String(cfg.UserID),
		EnvIncremental:    jsii.String("true"),
	}
	if athenaEngine {
		env[EnvSkipAnalysis] = jsii.String("true") // Athena runs the analyses
	}
	s.Task = batchtask.New(stack, "Analyse", &batchtask.Props{
		Vpc:              props.Vpc,
		Directory:        root,
		Dockerfile:       "analytics/Dockerfile",
		Environment:      env,
		Input:            props.Sink,
		InputPrefix:      SinkPrefix,
		Output:           props.Results,
		OutputPrefix:     BatchPrefix,
		StatePrefixes:    StatePrefixes(),
		ReadBackPrefixes: ReadBackPrefixes(),
		ClusterName:      cfg.Name("batch"),
		Family:           cfg.Name("analyse"),
	})
	nagSuppress(s.Task.TaskDefinition, "AwsSolutions-IAM5",
		"scoped to prefixes: the task reads objects under topics/ of the sink bucket and writes objects under batch/ of the results bucket; "+
			"it lists and deletes only under batch/clean/, batch/_state/ and batch/quarantine/, its incremental state, and reads back the first two "+
			"(their keys are not known in advance); the execution role pulls this image and writes this log group")
	nagSuppress(s.Task.TaskDefinition, "AwsSolutions-ECS2",
		"the environment holds the input and output locations and the user id, none of them secret")

	subnets := make([]string, 0, 2)
	for _, sn := range *s.Task.Subnets.SubnetIds {
		subnets = append(subnets, *sn)
	}
	// To run the task now, whatever the scheduler: incrementally, or (the second command) as a
	// full rebuild of the clean tables and the state from every sink object.
	runTask := "aws ecs run-task --cluster " + *s.Task.Cluster.ClusterName() +
		" --task-definition " + *s.Task.TaskDefinition.TaskDefinitionArn() +
		" --launch-type FARGATE --network-configuration 'awsvpcConfiguration={subnets=[" + strings.Join(subnets, ",") +
		"],securityGroups=[" + *s.Task.SecurityGroup.SecurityGroupId() + "],assignPublicIp=DISABLED}'"
	awscdk.NewCfnOutput(stack, jsii.String("RunTaskCommand"), &awscdk.CfnOutputProps{
		Description: jsii.String("Runs the batch task once, now (incrementally: the sink objects no earlier run read)"),
		Value:       jsii.String(runTask),
	})
	awscdk.NewCfnOutput(stack, jsii.String("TaskLogGroup"), &awscdk.CfnOutputProps{Value: s.Task.LogGroup.LogGroupName()})
	if !athenaEngine {
		awscdk.NewCfnOutput(stack, jsii.String("FullRebuildCommand"), &awscdk.CfnOutputProps{
			Description: jsii.String("Runs the batch task once, now, rebuilding the clean tables and the incremental state from every sink object"),
			Value:       jsii.String(runTask + " --overrides " + FullOverride(*s.Task.Container.ContainerName())),
		})
	}
	var tables []athena.Table
	var queries map[string]string
	if athenaEngine {
		tables, queries = props.Query.CleanTables(), props.Query.Analyses
	}
	if cfg.Scheduler == SchedulerEventBridge {
		sp := &schedule.Props{Expression: BatchCron, Description: "Runs the pinpipe batch analysis daily"}
		if athenaEngine {
			s.Flow = batchflow.New(stack, "Flow", &batchflow.Props{
				Task: s.Task, RebuildVariable: EnvFull,
				Workgroup: props.Query.Workgroup, Database: props.Query.DatabaseName, Tables: tables, Queries: queries,
				Publish: props.Results, PublishPrefix: BatchPrefix,
				Name: cfg.Name("batch"),
			})
			sp.StateMachine = s.Flow.StateMachine
			arn := *s.Flow.StateMachine.StateMachineArn()
			awscdk.NewCfnOutput(stack, jsii.String("StartExecutionCommand"), &awscdk.CfnOutputProps{
				Description: jsii.String("Runs the daily job now: the task (incrementally), then the Athena analyses"),
				Value:       jsii.String("aws stepfunctions start-execution --state-machine-arn " + arn),
			})
			awscdk.NewCfnOutput(stack, jsii.String("FullRebuildCommand"), &awscdk.CfnOutputProps{
				Description: jsii.String("Runs the daily job now, the task rebuilding the clean tables and the incremental state from every sink object"),
				Value:       jsii.String("aws stepfunctions start-execution --state-machine-arn " + arn + ` --input '{"full":true}'`),
			})
		} else {
			sp.Task = &schedule.EcsTask{
				ClusterArn:        s.Task.Cluster.ClusterArn(),
				TaskDefinitionArn: s.Task.TaskDefinition.TaskDefinitionArn(),
				Subnets:           *s.Task.Subnets.SubnetIds,
				SecurityGroups:    []*string{s.Task.SecurityGroup.SecurityGroupId()},
				Statements:        s.Task.RunTaskStatements(),
			}
		}
		s.Schedule = schedule.New(stack, "Daily", sp)
		if !athenaEngine {
			nagSuppress(s.Schedule.Role, "AwsSolutions-IAM5",
				"RunTask on any revision of this one task definition family, and only in this cluster (condition ecs:cluster)")
		}
		return s
	}

	dag := BatchDag{
		DagID:             DagID(cfg.UserID),
		Schedule:          BatchAirflowSchedule,
		Cluster:           *s.Task.Cluster.ClusterName(),
		TaskDefinition:    *s.Task.TaskDefinition.TaskDefinitionArn(),
		Subnets:           subnets,
		SecurityGroups:    []string{*s.Task.SecurityGroup.SecurityGroupId()},
		LogGroup:          *s.Task.LogGroup.LogGroupName(),
		Region:            *stack.Region(),
		LogStreamPrefix:   s.Task.StreamPrefix + "/" + *s.Task.Container.ContainerName(),
		Retries:           2,
		RetryDelayMinutes: 10,
		Container:         *s.Task.Container.ContainerName(),
		FullVariable:      EnvFull,
	}
	if athenaEngine {
		w := props.Query.Workgroup
		dag.Athena = &DagAthena{
			Workgroup:      w.Name,
			Database:       props.Query.DatabaseName,
			OutputLocation: *w.OutputLocation,
			Bucket:         *props.Results.BucketName(),
		}
		for _, name := range batchflow.Names(queries) {
			dag.Athena.Queries = append(dag.Athena.Queries, DagQuery{Output: name, SQL: queries[name], Key: ResultKey(name)})
		}
	}
	src, err := dag.Render()
	if err != nil {
		panic(err.Error())
	}
	s.Dag, s.DagFile = src, DagFileName(cfg.UserID)
	s.Airflow = mwaa.New(stack, "Airflow", &mwaa.Props{
		Name:             cfg.Name("airflow"),
		EnvironmentClass: cfg.MwaaEnvironmentClass,
		Vpc:              props.Vpc,
		Dags:             map[string]string{s.DagFile: src},
		AccessLogs:       props.AccessLogs,
		BucketName:       bucketName(cfg, "dags"),
	})
	role := s.Airflow.ExecutionRole
	for _, st := range s.Task.RunTaskStatements() {
		role.AddToPrincipalPolicy(st)
	}
	// Follow, and stop on failure or timeout, the tasks it started (task ARNs carry the cluster
	// name).
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecs:DescribeTasks", "ecs:StopTask"),
		Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecs"), Resource: jsii.String("task"),
			ResourceName: jsii.String(*s.Task.Cluster.ClusterName() + "/*"),
		})},
	}))
	s.Task.LogGroup.GrantRead(role) // the task's log in the Airflow task log
	if athenaEngine {
		// The Athena tasks run the queries, and the copies publish their results under their
		// fixed names, nothing else.
		for _, st := range props.Query.Workgroup.QueryStatements(stack, tables) {
			role.AddToPrincipalPolicy(st)
		}
		var published []*string
		for _, q := range dag.Athena.Queries {
			published = append(published, props.Results.ArnForObjects(jsii.String(q.Key)))
		}
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("s3:PutObject"), Resources: &published,
		}))
		nagSuppress(role, "AwsSolutions-IAM5",
			"the Athena tasks read the clean tables' objects under batch/clean/ and write and read the query results under athena/ "+
				"(keys not known in advance); DescribeTasks/StopTask on the tasks of the batch cluster")
	}
	trigger := "aws mwaa invoke-rest-api --name " + *s.Airflow.Name + " --method POST --path /dags/" + dag.DagID + "/dagRuns --body "
	awscdk.NewCfnOutput(stack, jsii.String("TriggerDagCommand"), &awscdk.CfnOutputProps{
		Description: jsii.String("Starts a DAG run now through the MWAA API (the web server is private)"),
		Value:       jsii.String(trigger + "'{}'"),
	})
	if athenaEngine {
		awscdk.NewCfnOutput(stack, jsii.String("FullRebuildCommand"), &awscdk.CfnOutputProps{
			Description: jsii.String("Starts a DAG run now whose task rebuilds the clean tables and the incremental state from every sink object"),
			Value:       jsii.String(trigger + `'{"conf":{"full":true}}'`),
		})
	}
	return s
}

// FullOverride is the --overrides of `aws ecs run-task` that makes one run of the batch task a
// full rebuild (its container is named container).
func FullOverride(container string) string {
	return `'{"containerOverrides":[{"name":"` + container + `","environment":[{"name":"` + EnvFull + `","value":"true"}]}]}'`
}
