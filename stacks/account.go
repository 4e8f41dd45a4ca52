package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// AccountStackName is the stack of the account-level settings. It carries no userId: there is
// one per account and region, whichever userIds deploy there.
const AccountStackName = "Pinpipe-Account"

// AccountStack holds what an account and region need once, for every userId: the CloudWatch
// Logs role of API Gateway (AWS::ApiGateway::Account), without which a REST API stage that
// writes access logs fails to deploy ("CloudWatch Logs role ARN must be set in account
// settings to enable logging").
//
// The setting is a singleton of the account and region, so the stack is built to be shared:
//   - every userId's app declares the same template under the same stack name, so a second
//     userId's deploy changes nothing;
//   - the role and the setting are retained when the stack is deleted: `cdk destroy` of one
//     userId (which deletes this stack too) leaves the others' APIs logging, and a later deploy
//     re-creates the stack with a new role (the role's name is CloudFormation's, so it never
//     collides with the retained one).
//
// Accounts that already have the setting turn the stack off with the apiGatewayCloudWatchRole
// context key (README: account prerequisites).
type AccountStack struct {
	awscdk.Stack
	// Role is the role API Gateway writes CloudWatch Logs with; Account the account setting.
	Role    awsiam.Role
	Account awsapigateway.CfnAccount
}

// NewAccountStack declares the account-level settings. Nothing of a userId goes into it.
func NewAccountStack(scope constructs.Construct, props *awscdk.StackProps) *AccountStack {
	sp := *props
	sp.Description = jsii.String("pinpipe: account settings shared by every userId in this account and region (kept on delete)")
	stack := awscdk.NewStack(scope, jsii.String(AccountStackName), &sp)
	// The app tags every stack with its userId; this one belongs to none.
	awscdk.Tags_Of(stack).Remove(jsii.String(userTag), nil)
	s := &AccountStack{Stack: stack}
	s.Role = awsiam.NewRole(stack, jsii.String("ApiGatewayCloudWatchRole"), &awsiam.RoleProps{
		Description: jsii.String("API Gateway writes the access and execution logs of this account's REST APIs (all pinpipe userIds)"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AmazonAPIGatewayPushToCloudWatchLogs")),
		},
	})
	s.Role.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN)
	s.Account = awsapigateway.NewCfnAccount(stack, jsii.String("ApiGatewayAccount"), &awsapigateway.CfnAccountProps{
		CloudWatchRoleArn: s.Role.RoleArn(),
	})
	s.Account.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	nagSuppress(s.Role, "AwsSolutions-IAM4",
		"AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for the API Gateway account role: API Gateway creates "+
			"the log groups of every API and stage in the account, whose names are not known in advance",
		"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
	return s
}
