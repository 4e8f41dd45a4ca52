package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// nagSuppress records, on construct and its children, that rule does not apply here and why.
// appliesTo narrows the suppression to the named findings (e.g. one managed policy or one
// wildcard resource); with none, every finding of the rule on construct is suppressed.
func nagSuppress(construct interface{}, rule, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		a := make([]interface{}, len(appliesTo))
		for i, v := range appliesTo {
			a[i] = v
		}
		s.AppliesTo = &a
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// nagSuppressPath is nagSuppress for a construct the CDK creates at a fixed path in stack
// (singleton providers), which the code cannot hold a reference to.
func nagSuppressPath(stack awscdk.Stack, path, rule, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		a := make([]interface{}, len(appliesTo))
		for i, v := range appliesTo {
			a[i] = v
		}
		s.AppliesTo = &a
	}
	cdknag.NagSuppressions_AddResourceSuppressionsByPath(stack, jsii.String(path), &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// lambdaBasicExecution is how cdk-nag names the AWS managed policy that CDK's own singleton
// Lambdas (AwsCustomResource, bucket auto-delete) attach.
const lambdaBasicExecution = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
