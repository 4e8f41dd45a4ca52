package stacks

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

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
}

// BatchStack runs the analytics container daily over the sink bucket, started by Airflow (MWAA)
// or by EventBridge Scheduler per the `scheduler` context key.
type BatchStack struct {
	awscdk.Stack
	Task *batchtask.BatchTask
	// Exactly one of Airflow and Schedule is set.
	Airflow  *mwaa.Environment
	Schedule *schedule.Schedule
	// DagFile and Dag are the DAG's file name and its source as uploaded (with deploy-time
	// tokens); empty without Airflow.
	DagFile, Dag string
}

// NewBatchStack declares the task and its schedule.
func NewBatchStack(scope constructs.Construct, id string, props *BatchStackProps) *BatchStack {
	if props == nil || props.Vpc == nil || props.Sink == nil || props.Results == nil {
		panic("stacks.BatchStackProps: Vpc, Sink and Results are required")
	}
	cfg := props.Config
	root, err := golambda.FindModuleRoot()
	if err != nil {
		panic("stacks.NewBatchStack: " + err.Error())
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &BatchStack{Stack: stack}
	s.Task = batchtask.New(stack, "Analyse", &batchtask.Props{
		Vpc:        props.Vpc,
		Directory:  root,
		Dockerfile: "analytics/Dockerfile",
		// The image's entry point is `pinpipe analyse`; its flags come from their environment
		// twins.
		Environment: map[string]*string{
			"PINPIPE_INPUT":   jsii.String("s3://" + *props.Sink.BucketName() + "/" + SinkPrefix),
			"PINPIPE_OUT":     jsii.String("s3://" + *props.Results.BucketName() + "/" + BatchPrefix),
			"PINPIPE_USER_ID": jsii.String(cfg.UserID),
		},
		Input:        props.Sink,
		InputPrefix:  SinkPrefix,
		Output:       props.Results,
		OutputPrefix: BatchPrefix,
		ClusterName:  cfg.Name("batch"),
		Family:       cfg.Name("analyse"),
	})
	nagSuppress(s.Task.TaskDefinition, "AwsSolutions-IAM5",
		"scoped to prefixes: the task reads objects under topics/ of the sink bucket and writes objects under batch/ of the results bucket "+
			"(their keys are not known in advance); the execution role pulls this image and writes this log group")
	nagSuppress(s.Task.TaskDefinition, "AwsSolutions-ECS2",
		"the environment holds the input and output locations and the user id, none of them secret")

	subnets := make([]string, 0, 2)
	for _, sn := range *s.Task.Subnets.SubnetIds {
		subnets = append(subnets, *sn)
	}
	// To run the job now, whatever the scheduler.
	awscdk.NewCfnOutput(stack, jsii.String("RunTaskCommand"), &awscdk.CfnOutputProps{
		Description: jsii.String("Runs the batch job once, now"),
		Value: jsii.String("aws ecs run-task --cluster " + *s.Task.Cluster.ClusterName() +
			" --task-definition " + *s.Task.TaskDefinition.TaskDefinitionArn() +
			" --launch-type FARGATE --network-configuration 'awsvpcConfiguration={subnets=[" + strings.Join(subnets, ",") +
			"],securityGroups=[" + *s.Task.SecurityGroup.SecurityGroupId() + "],assignPublicIp=DISABLED}'"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("TaskLogGroup"), &awscdk.CfnOutputProps{Value: s.Task.LogGroup.LogGroupName()})
	if cfg.Scheduler == SchedulerEventBridge {
		s.Schedule = schedule.New(stack, "Daily", &schedule.Props{
			Expression:  BatchCron,
			Description: "Runs the pinpipe batch analysis daily",
			Task: &schedule.EcsTask{
				ClusterArn:        s.Task.Cluster.ClusterArn(),
				TaskDefinitionArn: s.Task.TaskDefinition.TaskDefinitionArn(),
				Subnets:           *s.Task.Subnets.SubnetIds,
				SecurityGroups:    []*string{s.Task.SecurityGroup.SecurityGroupId()},
				Statements:        s.Task.RunTaskStatements(),
			},
		})
		nagSuppress(s.Schedule.Role, "AwsSolutions-IAM5",
			"RunTask on any revision of this one task definition family, and only in this cluster (condition ecs:cluster)")
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
	awscdk.NewCfnOutput(stack, jsii.String("TriggerDagCommand"), &awscdk.CfnOutputProps{
		Description: jsii.String("Starts a DAG run now through the MWAA API (the web server is private)"),
		Value: jsii.String("aws mwaa invoke-rest-api --name " + *s.Airflow.Name + " --method POST --path /dags/" +
			dag.DagID + "/dagRuns --body '{}'"),
	})
	return s
}
