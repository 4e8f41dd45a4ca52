// Package batchtask is the L3 construct for a container job run to completion on Fargate: an ECS
// cluster, an arm64 task definition whose image is built from a Dockerfile in this repository (a
// Docker image asset: `cdk deploy` builds and pushes it, `cdk synth` never does), a security
// group with no ingress, a log group, and a task role that may read one S3 prefix and write
// another, nothing else. Whatever starts the task (Airflow, EventBridge Scheduler) gets the
// cluster, task definition, subnets and security group from the fields.
package batchtask

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// DefaultExclude keeps what is not source out of the image's build context and hash, so that
// the asset hash changes only when the source does.
var DefaultExclude = []string{".git", "node_modules", "cdk.out", "bin", "**/testdata", "*.md", ".ci"}

// Props configures a BatchTask. Vpc, Directory, Dockerfile, Input, InputPrefix, Output and
// OutputPrefix are required.
type Props struct {
	// Vpc and Subnets place the task; Subnets defaults to the private subnets with egress (the
	// image is pulled through the NAT gateway; S3 through the gateway endpoint).
	Vpc     awsec2.IVpc
	Subnets *awsec2.SubnetSelection
	// Directory is the Docker build context (the module root) and Dockerfile the file in it,
	// e.g. "analytics/Dockerfile".
	Directory  string
	Dockerfile string
	// Exclude adds patterns to DefaultExclude (a .dockerignore in Directory is honoured too).
	Exclude []string
	// Command is the container's command (arguments to the image's entry point).
	Command []string
	// Environment of the container.
	Environment map[string]*string
	// Input and InputPrefix: the task may list and read objects under this prefix only.
	Input       awss3.IBucket
	InputPrefix string
	// Output and OutputPrefix: the task may write objects under this prefix only.
	Output       awss3.IBucket
	OutputPrefix string
	// StatePrefixes are prefixes under OutputPrefix where the task keeps files between runs (an
	// incremental job's state): there, and only there, it may list (the listing's prefix under
	// one of them) and delete objects of Output. ReadBackPrefixes, each under one of
	// StatePrefixes, are where it may also read objects back.
	StatePrefixes, ReadBackPrefixes []string
	// ClusterName and Family name the cluster and the task definition family. Default: generated.
	ClusterName string
	Family      string
	// Cpu (units) and MemoryMiB of the task. Default 1024 and 4096.
	Cpu       float64
	MemoryMiB float64
	// ContainerInsights turns on ECS Container Insights for the cluster (billed as custom
	// metrics). Default off: a job that runs minutes a day is watched through its log group and
	// its stopped-task events.
	ContainerInsights bool
	// LogRetention of the task's log group. Default one month.
	LogRetention awslogs.RetentionDays
}

// BatchTask is the job and what it is made of.
type BatchTask struct {
	constructs.Construct
	Cluster        awsecs.Cluster
	TaskDefinition awsecs.FargateTaskDefinition
	Container      awsecs.ContainerDefinition
	SecurityGroup  awsec2.SecurityGroup
	LogGroup       awslogs.LogGroup
	// Subnets the task runs in.
	Subnets *awsec2.SelectedSubnets
	// StreamPrefix is the awslogs stream prefix: a task's log stream is
	// <StreamPrefix>/<container name>/<task id>.
	StreamPrefix string
}

func validate(p *Props) error {
	switch {
	case p.Vpc == nil:
		return fmt.Errorf("batchtask.Props.Vpc: required")
	case p.Directory == "":
		return fmt.Errorf("batchtask.Props.Directory: required (the Docker build context)")
	case p.Dockerfile == "":
		return fmt.Errorf("batchtask.Props.Dockerfile: required (relative to Directory)")
	case p.Input == nil:
		return fmt.Errorf("batchtask.Props.Input: required (the bucket the task reads)")
	case p.Output == nil:
		return fmt.Errorf("batchtask.Props.Output: required (the bucket the task writes)")
	}
	for _, pre := range []struct{ field, v string }{{"InputPrefix", p.InputPrefix}, {"OutputPrefix", p.OutputPrefix}} {
		if pre.v == "" || !strings.HasSuffix(pre.v, "/") || strings.HasPrefix(pre.v, "/") || strings.Contains(pre.v, "*") {
			return fmt.Errorf("batchtask.Props.%s: %q must be a key prefix ending with / (not the whole bucket)", pre.field, pre.v)
		}
	}
	for i, sp := range p.StatePrefixes {
		if !strings.HasPrefix(sp, p.OutputPrefix) || sp == p.OutputPrefix || !strings.HasSuffix(sp, "/") || strings.Contains(sp, "*") {
			return fmt.Errorf("batchtask.Props.StatePrefixes[%d]: %q must be a key prefix ending with / under OutputPrefix %q", i, sp, p.OutputPrefix)
		}
	}
	for i, rp := range p.ReadBackPrefixes {
		under := false
		for _, sp := range p.StatePrefixes {
			under = under || strings.HasPrefix(rp, sp)
		}
		if !under || !strings.HasSuffix(rp, "/") || strings.Contains(rp, "*") {
			return fmt.Errorf("batchtask.Props.ReadBackPrefixes[%d]: %q must be a key prefix ending with / under one of StatePrefixes", i, rp)
		}
	}
	if _, err := os.Stat(filepath.Join(p.Directory, p.Dockerfile)); err != nil {
		return fmt.Errorf("batchtask.Props.Dockerfile: %w", err)
	}
	return nil
}

// New declares the cluster, the task and its permissions. Invalid props panic with a message
// naming the field, as CDK constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *BatchTask {
	if props == nil {
		panic("batchtask.Props: required")
	}
	if err := validate(props); err != nil {
		panic(err.Error())
	}
	p := *props
	if p.Subnets == nil {
		p.Subnets = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
	}
	if p.Cpu == 0 {
		p.Cpu = 1024
	}
	if p.MemoryMiB == 0 {
		p.MemoryMiB = 4096
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	b := &BatchTask{Construct: c, StreamPrefix: "batch"}
	b.Subnets = p.Vpc.SelectSubnets(p.Subnets)

	insights := awsecs.ContainerInsights_DISABLED
	if p.ContainerInsights {
		insights = awsecs.ContainerInsights_ENABLED
	}
	cp := &awsecs.ClusterProps{Vpc: p.Vpc, ContainerInsightsV2: insights}
	if p.ClusterName != "" {
		cp.ClusterName = jsii.String(p.ClusterName)
	}
	b.Cluster = awsecs.NewCluster(c, jsii.String("Cluster"), cp)
	if !p.ContainerInsights {
		cdknag.NagSuppressions_AddResourceSuppressions(b.Cluster, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-ECS4"),
			Reason: jsii.String("Container Insights is off by choice (Props.ContainerInsights): the cluster only runs a short daily task, " +
				"whose output is in its log group and whose failures are reported from its stopped-task events"),
		}}, jsii.Bool(false))
	}

	b.SecurityGroup = awsec2.NewSecurityGroup(c, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              p.Vpc,
		Description:      jsii.String("Batch task: no ingress; HTTPS out to S3, ECR and CloudWatch Logs"),
		AllowAllOutbound: jsii.Bool(false),
	})
	b.SecurityGroup.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)),
		jsii.String("HTTPS to AWS APIs (S3 via the gateway endpoint, ECR and Logs via NAT)"), nil)

	b.LogGroup = awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	tp := &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(p.Cpu),
		MemoryLimitMiB: jsii.Number(p.MemoryMiB),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       awsecs.CpuArchitecture_ARM64(),
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	}
	if p.Family != "" {
		tp.Family = jsii.String(p.Family)
	}
	b.TaskDefinition = awsecs.NewFargateTaskDefinition(c, jsii.String("Task"), tp)

	exclude := append(append([]string{}, DefaultExclude...), p.Exclude...)
	image := awsecs.ContainerImage_FromAsset(jsii.String(p.Directory), &awsecs.AssetImageProps{
		File:     jsii.String(p.Dockerfile),
		Platform: awsecrassets.Platform_LINUX_ARM64(),
		Exclude:  jsii.Strings(exclude...),
	})
	cd := &awsecs.ContainerDefinitionOptions{
		Image:                  image,
		ContainerName:          jsii.String("job"),
		Essential:              jsii.Bool(true),
		ReadonlyRootFilesystem: jsii.Bool(false),
		Logging: awsecs.LogDriver_AwsLogs(&awsecs.AwsLogDriverProps{
			LogGroup:     b.LogGroup,
			StreamPrefix: jsii.String(b.StreamPrefix),
		}),
	}
	if len(p.Command) > 0 {
		cd.Command = jsii.Strings(p.Command...)
	}
	if len(p.Environment) > 0 {
		cd.Environment = &p.Environment
	}
	b.Container = b.TaskDefinition.AddContainer(jsii.String("Job"), cd)

	role := b.TaskDefinition.TaskRole()
	p.Input.GrantRead(role, jsii.String(p.InputPrefix+"*"))
	p.Output.GrantPut(role, jsii.String(p.OutputPrefix+"*"))
	if len(p.StatePrefixes) > 0 {
		var objects, listed, read []*string
		for _, sp := range p.StatePrefixes {
			objects = append(objects, p.Output.ArnForObjects(jsii.String(sp+"*")))
			listed = append(listed, jsii.String(sp+"*"))
		}
		for _, rp := range p.ReadBackPrefixes {
			read = append(read, p.Output.ArnForObjects(jsii.String(rp+"*")))
		}
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("s3:DeleteObject"), Resources: &objects,
		}))
		if len(read) > 0 {
			role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("s3:GetObject"), Resources: &read,
			}))
		}
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings("s3:ListBucket"),
			Resources:  &[]*string{p.Output.BucketArn()},
			Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": &listed}},
		}))
	}
	return b
}

// RunTaskStatements are what a scheduler's role needs to start this task and no other: RunTask on
// the task definition's family (any revision) in this cluster, and PassRole on the task's two
// roles to ECS only.
func (b *BatchTask) RunTaskStatements() []awsiam.PolicyStatement {
	stack := awscdk.Stack_Of(b.Construct)
	family := stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ecs"),
		Resource:     jsii.String("task-definition"),
		ResourceName: jsii.String(*b.TaskDefinition.Family() + ":*"),
	})
	return []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings("ecs:RunTask"),
			Resources:  &[]*string{family},
			Conditions: &map[string]interface{}{"ArnEquals": map[string]interface{}{"ecs:cluster": b.Cluster.ClusterArn()}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings("iam:PassRole"),
			Resources:  &[]*string{b.TaskDefinition.TaskRole().RoleArn(), b.TaskDefinition.ObtainExecutionRole().RoleArn()},
			Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		}),
	}
}
