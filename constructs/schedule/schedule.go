// Package schedule is the L3 construct for something run on a schedule by EventBridge Scheduler:
// a Fargate task (the cheap alternative to MWAA for a daily job), a Step Functions state machine
// (the daily job when Athena runs its analyses) or a Lambda function (the emulator). The
// schedule's role may start that one target and nothing else, and only the scheduler of this
// account may assume it.
package schedule

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// EcsTask is a Fargate task to run.
type EcsTask struct {
	ClusterArn        *string
	TaskDefinitionArn *string
	Subnets           []*string
	SecurityGroups    []*string
	// Statements grant the schedule's role what RunTask needs (e.g. batchtask's
	// RunTaskStatements: RunTask on the family, PassRole on the task's roles).
	Statements []awsiam.PolicyStatement
}

// Props configures a Schedule. Expression and exactly one of Task, Function and StateMachine are
// required.
type Props struct {
	// Expression is a Scheduler expression: "cron(0 3 * * ? *)", "rate(1 day)", "rate(5 minutes)".
	Expression string
	// Timezone of a cron expression. Default "UTC".
	Timezone string
	// Disabled creates the schedule switched off. Default: enabled.
	Disabled bool
	// Description of the schedule.
	Description string
	// Task is a Fargate task to run.
	Task *EcsTask
	// Function is a Lambda function to invoke, with Input as its event (JSON; default "{}").
	Function awslambda.IFunction
	// StateMachine is a Step Functions state machine to start, with Input as its execution's
	// input.
	StateMachine awsstepfunctions.IStateMachine
	Input        string
	// Retries after a failed start. Default 2.
	Retries float64
}

// Schedule is the schedule and its role.
type Schedule struct {
	constructs.Construct
	Schedule awsscheduler.CfnSchedule
	Role     awsiam.Role
}

func validate(p *Props) error {
	e := p.Expression
	if !(strings.HasPrefix(e, "cron(") || strings.HasPrefix(e, "rate(") || strings.HasPrefix(e, "at(")) || !strings.HasSuffix(e, ")") {
		return fmt.Errorf("schedule.Props.Expression: %q is not cron(...), rate(...) or at(...)", e)
	}
	targets := 0
	for _, set := range []bool{p.Task != nil, p.Function != nil, p.StateMachine != nil} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		return fmt.Errorf("schedule.Props.Task/Function/StateMachine: exactly one target is required, %d are set", targets)
	}
	if t := p.Task; t != nil {
		switch {
		case t.ClusterArn == nil || t.TaskDefinitionArn == nil:
			return fmt.Errorf("schedule.Props.Task: ClusterArn and TaskDefinitionArn are required")
		case len(t.Subnets) == 0:
			return fmt.Errorf("schedule.Props.Task.Subnets: at least one subnet is required")
		case len(t.SecurityGroups) == 0:
			return fmt.Errorf("schedule.Props.Task.SecurityGroups: at least one security group is required")
		case len(t.Statements) == 0:
			return fmt.Errorf("schedule.Props.Task.Statements: the RunTask and PassRole grants are required")
		}
	}
	if p.Retries < 0 || p.Retries > 185 {
		return fmt.Errorf("schedule.Props.Retries: %v is outside 0..185", p.Retries)
	}
	return nil
}

// New declares the schedule. Invalid props panic with a message naming the field, as CDK
// constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *Schedule {
	if props == nil {
		panic("schedule.Props: required")
	}
	if err := validate(props); err != nil {
		panic(err.Error())
	}
	p := *props
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	if p.Retries == 0 {
		p.Retries = 2
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	stack := awscdk.Stack_Of(c)
	s := &Schedule{Construct: c}
	s.Role = awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String("EventBridge Scheduler: starts one target"),
	})

	target := &awsscheduler.CfnSchedule_TargetProperty{
		RoleArn: s.Role.RoleArn(),
		RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
			MaximumRetryAttempts:     jsii.Number(p.Retries),
			MaximumEventAgeInSeconds: jsii.Number(3600),
		},
	}
	if t := p.Task; t != nil {
		for _, st := range t.Statements {
			s.Role.AddToPrincipalPolicy(st)
		}
		target.Arn = t.ClusterArn
		target.EcsParameters = &awsscheduler.CfnSchedule_EcsParametersProperty{
			TaskDefinitionArn: t.TaskDefinitionArn,
			LaunchType:        jsii.String("FARGATE"),
			PlatformVersion:   jsii.String("LATEST"),
			TaskCount:         jsii.Number(1),
			NetworkConfiguration: &awsscheduler.CfnSchedule_NetworkConfigurationProperty{
				AwsvpcConfiguration: &awsscheduler.CfnSchedule_AwsVpcConfigurationProperty{
					Subnets:        &t.Subnets,
					SecurityGroups: &t.SecurityGroups,
					AssignPublicIp: jsii.String("DISABLED"),
				},
			},
		}
	} else {
		input := p.Input
		if input == "" {
			input = "{}"
		}
		target.Input = jsii.String(input)
		if p.Function != nil {
			target.Arn = p.Function.FunctionArn()
			s.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("lambda:InvokeFunction"),
				Resources: &[]*string{p.Function.FunctionArn()},
			}))
		} else {
			target.Arn = p.StateMachine.StateMachineArn()
			s.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("states:StartExecution"),
				Resources: &[]*string{p.StateMachine.StateMachineArn()},
			}))
		}
	}
	state := "ENABLED"
	if p.Disabled {
		state = "DISABLED"
	}
	sp := &awsscheduler.CfnScheduleProps{
		ScheduleExpression:         jsii.String(p.Expression),
		ScheduleExpressionTimezone: jsii.String(p.Timezone),
		FlexibleTimeWindow:         &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:                      jsii.String(state),
		Target:                     target,
	}
	if p.Description != "" {
		sp.Description = jsii.String(p.Description)
	}
	s.Schedule = awsscheduler.NewCfnSchedule(c, jsii.String("Schedule"), sp)
	// The scheduler checks the role on its first run; the policy must be attached by then.
	s.Schedule.Node().AddDependency(s.Role)
	return s
}
