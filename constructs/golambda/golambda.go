// Package golambda is the L3 construct for a Lambda function written in Go in this repository:
// the handler package is compiled at synth time by a local bundler (no Docker, no alpha module)
// for provided.al2023 on arm64, to a static `bootstrap` executable, with its own log group and a
// role that may write only to that log group until the caller grants more.
package golambda

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures a GoFunction. Only Entry is required.
type Props struct {
	// Entry is the handler's main package, relative to the module root, e.g. "lambda/streamclean".
	Entry string
	// ModuleRoot is the directory holding go.mod. Default: found by walking up from the working
	// directory (cdk synth runs in the module root; tests run below it).
	ModuleRoot string
	// Description of the function.
	Description string
	// Environment variables of the function.
	Environment map[string]*string
	// MemorySize in MiB. Default 256.
	MemorySize float64
	// Timeout. Default 30 seconds.
	Timeout awscdk.Duration
	// ReservedConcurrentExecutions caps concurrency; 0 leaves it unreserved.
	ReservedConcurrentExecutions float64
	// LogRetention of the function's log group. Default one month.
	LogRetention awslogs.RetentionDays
	// RemovalPolicy of the log group. Default DESTROY: logs are not data we keep after teardown.
	RemovalPolicy awscdk.RemovalPolicy
	// Vpc, VpcSubnets and SecurityGroups place the function in a VPC when Vpc is set.
	Vpc            awsec2.IVpc
	VpcSubnets     *awsec2.SubnetSelection
	SecurityGroups []awsec2.ISecurityGroup
}

// GoFunction is a Go Lambda function and what it is made of.
type GoFunction struct {
	constructs.Construct
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// New compiles props.Entry and declares the function. Invalid props panic with a message naming
// the field, as CDK constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *GoFunction {
	if props == nil || props.Entry == "" {
		panic("golambda.Props.Entry: required (the handler package, e.g. \"lambda/streamclean\")")
	}
	root := props.ModuleRoot
	if root == "" {
		var err error
		if root, err = FindModuleRoot(); err != nil {
			panic(fmt.Sprintf("golambda.Props.ModuleRoot: %v", err))
		}
	}
	entryDir := filepath.Join(root, props.Entry)
	if m, _ := filepath.Glob(filepath.Join(entryDir, "*.go")); len(m) == 0 {
		panic(fmt.Sprintf("golambda.Props.Entry: %q has no Go files under %s", props.Entry, root))
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	g := &GoFunction{Construct: c}

	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}
	removal := props.RemovalPolicy
	if removal == "" {
		removal = awscdk.RemovalPolicy_DESTROY
	}
	g.LogGroup = awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removal,
	})
	g.Role = awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Runs " + props.Entry + "; may write its own log group"),
	})
	g.LogGroup.GrantWrite(g.Role)

	memory := props.MemorySize
	if memory == 0 {
		memory = 256
	}
	timeout := props.Timeout
	if timeout == nil {
		timeout = awscdk.Duration_Seconds(jsii.Number(30))
	}
	fp := &awslambda.FunctionProps{
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         Code(root, props.Entry),
		Role:         g.Role,
		LogGroup:     g.LogGroup,
		MemorySize:   jsii.Number(memory),
		Timeout:      timeout,
		Environment:  &props.Environment,
	}
	if props.Description != "" {
		fp.Description = jsii.String(props.Description)
	}
	if props.ReservedConcurrentExecutions > 0 {
		fp.ReservedConcurrentExecutions = jsii.Number(props.ReservedConcurrentExecutions)
	}
	if props.Vpc != nil {
		fp.Vpc = props.Vpc
		fp.VpcSubnets = props.VpcSubnets
		if len(props.SecurityGroups) > 0 {
			fp.SecurityGroups = &props.SecurityGroups
		}
		// ENI management for a function in a VPC; AWS's managed policy is the documented way.
		g.Role.AddManagedPolicy(awsiam.ManagedPolicy_FromAwsManagedPolicyName(
			jsii.String("service-role/AWSLambdaVPCAccessExecutionRole")))
	}
	g.Function = awslambda.NewFunction(c, jsii.String("Function"), fp)
	return g
}

// Code is the asset of the handler package entry (relative to root), built by the local Go
// bundler. Its hash is the hash of the built executable, which -trimpath and an empty build id
// make the same on every machine for the same source.
func Code(root, entry string) awslambda.AssetCode {
	return awslambda.Code_FromAsset(jsii.String(filepath.Join(root, entry)), &awss3assets.AssetOptions{
		AssetHashType: awscdk.AssetHashType_OUTPUT,
		Bundling: &awscdk.BundlingOptions{
			// Never used: the local bundler always succeeds or stops the synth with Go's error.
			Image: awscdk.DockerImage_FromRegistry(jsii.String("public.ecr.aws/docker/library/golang:1.26")),
			Local: &bundler{root: root, entry: entry},
		},
	})
}

// bundler compiles a Go main package for Lambda. It must be passed as a pointer: jsii registers
// the pointer's methods.
type bundler struct{ root, entry string }

// TryBundle implements awscdk.ILocalBundling.
func (b *bundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	if err := Build(b.root, b.entry, filepath.Join(*outputDir, "bootstrap")); err != nil {
		panic(err.Error())
	}
	return jsii.Bool(true)
}

// Build compiles the main package entry (relative to root) to out as a static linux/arm64
// executable, reproducibly (-trimpath, no VCS stamp, empty build id), with the lambda.norpc tag
// that provided.al2023 needs no RPC server for.
func Build(root, entry, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags", "-s -w -buildid=", "-o", out, "./"+filepath.ToSlash(entry))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("golambda: go build ./%s: %v\n%s", entry, err, msg)
	}
	return nil
}

// FindModuleRoot walks up from the working directory to the directory holding go.mod.
func FindModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
