package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// GitHubOidcStackID is the stack of the GitHub Actions role: one per account and repository, so
// its name carries no user id.
const GitHubOidcStackID = "Pinpipe-GitHubOidc"

// githubTokenHost is GitHub Actions' OIDC issuer.
const githubTokenHost = "token.actions.githubusercontent.com"

// GitHubOidcStackProps configures the stack.
type GitHubOidcStackProps struct {
	awscdk.StackProps
	// Repo is "owner/name": only that repository's pull_request workflows may assume the role.
	Repo string
	// ProviderArn imports the account's existing GitHub OIDC provider; empty creates it. IAM
	// keeps one provider per issuer in an account, all regions together: a second region of the
	// account, or an account that already has GitHub's provider, must import it (README).
	ProviderArn string
	// BootstrapQualifier of the CDK bootstrap stack whose lookup role `cdk diff` assumes
	// (default hnb659fds).
	BootstrapQualifier string
}

// GitHubOidcStack lets the repository's `cdk diff` workflow read the deployed stacks: an IAM role
// that GitHub Actions assumes with its OIDC token (no stored keys), trusted only for pull requests
// of one repository, and allowed nothing but to assume the CDK bootstrap lookup role, which is
// read-only. `cdk diff --no-change-set` needs no more: it reads the deployed templates.
type GitHubOidcStack struct {
	awscdk.Stack
	// ProviderArn is the OIDC provider the role trusts (created or imported).
	ProviderArn *string
	Role        awsiam.Role
}

// NewGitHubOidcStack declares the provider (unless imported) and the role.
func NewGitHubOidcStack(scope constructs.Construct, id string, props *GitHubOidcStackProps) *GitHubOidcStack {
	if props == nil || props.Repo == "" {
		panic("stacks.GitHubOidcStackProps: Repo is required")
	}
	qualifier := props.BootstrapQualifier
	if qualifier == "" {
		qualifier = "hnb659fds"
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	// One stack per account and region, whoever deploys it: the app tags every stack with its
	// userId, but this one belongs to none (with the tag, each userId's deploy would rewrite it).
	awscdk.Tags_Of(stack).Remove(jsii.String(userTag), nil)
	s := &GitHubOidcStack{Stack: stack, ProviderArn: jsii.String(props.ProviderArn)}
	if props.ProviderArn == "" {
		// The CloudFormation resource itself, not the CDK's custom-resource provider: no Lambda.
		// IAM takes the issuer's certificate thumbprint itself when none is given.
		p := awsiam.NewCfnOIDCProvider(stack, jsii.String("GitHubProvider"), &awsiam.CfnOIDCProviderProps{
			Url:          jsii.String("https://" + githubTokenHost),
			ClientIdList: jsii.Strings("sts.amazonaws.com"),
		})
		s.ProviderArn = p.AttrArn()
	}
	s.Role = awsiam.NewRole(stack, jsii.String("CdkDiffRole"), &awsiam.RoleProps{
		Description: jsii.String("cdk diff from pull requests of " + props.Repo + " (GitHub Actions OIDC); may only assume the CDK lookup role"),
		AssumedBy: awsiam.NewWebIdentityPrincipal(s.ProviderArn, &map[string]interface{}{
			"StringEquals": map[string]interface{}{
				githubTokenHost + ":aud": "sts.amazonaws.com",
				githubTokenHost + ":sub": "repo:" + props.Repo + ":pull_request",
			},
		}),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"AssumeCdkLookupRole": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
				Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions: jsii.Strings("sts:AssumeRole"),
					Resources: jsii.Strings(*awscdk.Fn_Sub(jsii.String(
						"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-"+qualifier+"-lookup-role-${AWS::AccountId}-${AWS::Region}"), nil)),
				})},
			}),
		},
	})
	awscdk.NewCfnOutput(stack, jsii.String("CdkDiffRoleArn"), &awscdk.CfnOutputProps{
		Value:       s.Role.RoleArn(),
		Description: jsii.String("set it as the repository variable CDK_DIFF_ROLE_ARN"),
	})
	return s
}
