package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

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

// Batch input and output prefixes: the S3 sink writes topics/<topic>/..., the job writes its
// results and report under batch/.
const (
	SinkPrefix  = "topics/"
	BatchPrefix = "batch/"
)

// BatchStackProps configures the batch stack.
type BatchStackProps struct {
	awscdk.StackProps
	UserID string
	// Scheduler runs the task daily: SchedulerMWAA (Airflow, the default) or
	// SchedulerEventBridge (EventBridge Scheduler, the cheap option).
	Scheduler string
	Vpc       awsec2.IVpc
	// Sink is read under SinkPrefix; Results written under BatchPrefix.
	Sink    awss3.IBucket
	Results awss3.IBucket
	// AccessLogs receives the DAG bucket's access logs (optional).
	AccessLogs awss3.IBucket
	// ModuleRoot is the Docker build context of the analytics image. Default: found from the
	// working directory.
	ModuleRoot string
}

// BatchStack runs the analytics container daily over the sink bucket.
type BatchStack struct {
	awscdk.Stack
	Task *batchtask.BatchTask
	// Exactly one of Airflow and Schedule is set, per Scheduler.
	Airflow  *mwaa.Environment
	Schedule *schedule.Schedule
	// Dag is the DAG file's source as uploaded (with deploy-time tokens); DagFile its name.
	Dag, DagFile string
}

// BatchSchedule is when the batch job runs: daily at 02:00 UTC (Airflow's @daily is 00:00).
const BatchSchedule = "cron(0 2 * * ? *)"

// NewBatchStack declares the task and its schedule.
func NewBatchStack(scope constructs.Construct, id string, props *BatchStackProps) *BatchStack {
	if props == nil || props.UserID == "" || props.Vpc == nil || props.Sink == nil || props.Results == nil {
		panic("stacks.BatchStackProps: UserID, Vpc, Sink and Results are required")
	}
	if props.Scheduler != SchedulerMWAA && props.Scheduler != SchedulerEventBridge {
		panic(fmt.Sprintf("context scheduler: %q is not %q or %q", props.Scheduler, SchedulerMWAA, SchedulerEventBridge))
	}
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	s := &BatchStack{Stack: stack}
	root := props.ModuleRoot
	if root == "" {
		var err error
		if root, err = golambda.FindModuleRoot(); err != nil {
			panic("stacks.BatchStackProps.ModuleRoot: " + err.Error())
		}
	}
	s.Task = batchtask.New(stack, "Analyse", &batchtask.Props{
		Vpc:        props.Vpc,
		Directory:  root,
		Dockerfile: "analytics/Dockerfile",
		Command: []string{"analyse",
			"--input", "s3://" + *props.Sink.BucketName() + "/" + SinkPrefix,
			"--out", "s3://" + *props.Results.BucketName() + "/" + BatchPrefix},
		Environment:  map[string]*string{"PINPIPE_USER_ID": jsii.String(props.UserID)},
		Input:        props.Sink,
		InputPrefix:  SinkPrefix,
		Output:       props.Results,
		OutputPrefix: BatchPrefix,
		ClusterName:  props.UserID + "-pinpipe-batch",
		Family:       props.UserID + "-pinpipe-analyse",
	})
	cdknag.NagSuppressions_AddResourceSuppressions(s.Task.TaskDefinition, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Scoped to prefixes: the task reads objects under topics/ of the sink bucket and writes objects under batch/ " +
			"of the results bucket (object keys are not known in advance); the execution role pulls this one image and writes this one log group"),
	}}, jsii.Bool(true))
	cdknag.NagSuppressions_AddResourceSuppressions(s.Task.TaskDefinition, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-ECS2"),
		Reason: jsii.String("The environment holds only the user id, no secret; the bucket names are in the command"),
	}}, jsii.Bool(false))

	subnets := make([]string, 0, 2)
	for _, sn := range *s.Task.Subnets.SubnetIds {
		subnets = append(subnets, *sn)
	}
	switch props.Scheduler {
	case SchedulerEventBridge:
		var ids []*string
		for i := range subnets {
			ids = append(ids, &subnets[i])
		}
		s.Schedule = schedule.New(stack, "Daily", &schedule.Props{
			Expression:  BatchSchedule,
			Description: "Runs the pinpipe batch analysis daily",
			Task: &schedule.EcsTask{
				ClusterArn:        s.Task.Cluster.ClusterArn(),
				TaskDefinitionArn: s.Task.TaskDefinition.TaskDefinitionArn(),
				Subnets:           ids,
				SecurityGroups:    []*string{s.Task.SecurityGroup.SecurityGroupId()},
				Statements:        s.Task.RunTaskStatements(),
			},
		})
		cdknag.NagSuppressions_AddResourceSuppressions(s.Schedule.Role, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("RunTask on any revision of this one task definition family, only in this cluster (condition ecs:cluster)"),
		}}, jsii.Bool(true))
	default:
		dag := BatchDag{
			DagID:             props.UserID + "_dag",
			Schedule:          "0 2 * * *",
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
		s.Dag, s.DagFile = src, dag.DagID+".py"
		s.Airflow = mwaa.New(stack, "Airflow", &mwaa.Props{
			Name:       "pinpipe-" + props.UserID,
			Vpc:        props.Vpc,
			Dags:       map[string]string{s.DagFile: src},
			AccessLogs: props.AccessLogs,
		})
		role := s.Airflow.ExecutionRole
		for _, st := range s.Task.RunTaskStatements() {
			role.AddToPrincipalPolicy(st)
		}
		// Follow, and stop on failure or timeout, the tasks it started (task ARNs carry the
		// cluster name).
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("ecs:DescribeTasks", "ecs:StopTask"),
			Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("ecs"), Resource: jsii.String("task"),
				ResourceName: jsii.String(*s.Task.Cluster.ClusterName() + "/*"),
			})},
		}))
		s.Task.LogGroup.GrantRead(role) // the task's log in the Airflow UI
	}
	return s
}
