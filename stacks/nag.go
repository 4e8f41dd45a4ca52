package stacks

import (
	"strings"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// nagSuppress records, on construct and its children, that cdk-nag's rule does not apply and
// why. appliesTo narrows the suppression to the named findings (one managed policy, one
// wildcard resource); an entry written /like this/ is a regular expression over the findings.
// With none, every finding of the rule on construct is suppressed.
func nagSuppress(construct interface{}, rule, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		a := make([]interface{}, len(appliesTo))
		for i, v := range appliesTo {
			if strings.HasPrefix(v, "/") {
				a[i] = map[string]interface{}{"regex": v}
			} else {
				a[i] = v
			}
		}
		s.AppliesTo = &a
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// lambdaBasicExecution is how cdk-nag names the AWS managed policy that CDK's own singleton
// Lambdas (AwsCustomResource, bucket auto-delete) attach.
const lambdaBasicExecution = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
