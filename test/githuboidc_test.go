package test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/stacks"
)

// synthOidc synthesizes the GitHub OIDC stack alone (it references no other stack), with
// cdk-nag and the built-in CloudFormation validation, as the app would with githubRepo set.
func synthOidc(t *testing.T, props *stacks.GitHubOidcStackProps) (*Synthesis, *stacks.GitHubOidcStack) {
	t.Helper()
	ctx, err := cdkContext()
	require.NoError(t, err)
	dir := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(dir), AnalyticsReporting: jsii.Bool(false),
		BuiltinCloudFormationValidation: jsii.Bool(true)})
	st := stacks.NewGitHubOidcStack(app, stacks.GitHubOidcStackID, props)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	s := &Synthesis{Dir: dir}
	require.NoError(t, s.readManifest())
	return s, st
}

// TestGitHubOidcStack: the cdk diff role trusts GitHub's OIDC provider for one repository's pull
// requests only, and may do nothing but assume the CDK bootstrap lookup role.
func TestGitHubOidcStack(t *testing.T) {
	s, st := synthOidc(t, &stacks.GitHubOidcStackProps{Repo: "pinpipe/pinpipe"})
	assert.Empty(t, s.ValidationViolations(t))
	s.RequireNoNagFindings(t, st.Stack)
	tmpl := s.TemplateJSON(t, st.Stack)
	Snapshot(t, "githuboidc", tmpl)

	providers := Resources(tmpl, "AWS::IAM::OIDCProvider")
	require.Len(t, providers, 1)
	for _, p := range providers {
		assert.Equal(t, "https://token.actions.githubusercontent.com", Props(p)["Url"])
		assert.Equal(t, []interface{}{"sts.amazonaws.com"}, Props(p)["ClientIdList"])
	}
	roles := Resources(tmpl, "AWS::IAM::Role")
	require.Len(t, roles, 1)
	for _, r := range roles {
		p := Props(r)
		stmts := p["AssumeRolePolicyDocument"].(map[string]interface{})["Statement"].([]interface{})
		require.Len(t, stmts, 1)
		trust := stmts[0].(map[string]interface{})
		assert.Equal(t, "sts:AssumeRoleWithWebIdentity", trust["Action"])
		assert.Equal(t, map[string]interface{}{"StringEquals": map[string]interface{}{
			"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
			"token.actions.githubusercontent.com:sub": "repo:pinpipe/pinpipe:pull_request",
		}}, trust["Condition"], "only this repository's pull requests")
		assert.Nil(t, p["ManagedPolicyArns"])
		pols := p["Policies"].([]interface{})
		require.Len(t, pols, 1)
		doc := pols[0].(map[string]interface{})["PolicyDocument"].(map[string]interface{})
		require.Len(t, doc["Statement"], 1)
		allow := doc["Statement"].([]interface{})[0].(map[string]interface{})
		assert.Equal(t, "sts:AssumeRole", allow["Action"])
		assert.Equal(t, map[string]interface{}{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-lookup-role-${AWS::AccountId}-${AWS::Region}"},
			allow["Resource"])
	}

	// An existing provider is imported, not created again.
	s2, st2 := synthOidc(t, &stacks.GitHubOidcStackProps{Repo: "a/b", BootstrapQualifier: "custom123",
		ProviderArn: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"})
	tmpl2 := s2.TemplateJSON(t, st2.Stack)
	assert.Empty(t, Resources(tmpl2, "AWS::IAM::OIDCProvider"))
	assert.Contains(t, toJSON(t, tmpl2), `arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com`)
	assert.Contains(t, toJSON(t, tmpl2), `cdk-custom123-lookup-role`)
	s2.RequireNoNagFindings(t, st2.Stack)
}
