package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Pipeline is every stack of the app. The stateful stacks (Network, Storage, Kafka) hold what
// cannot be re-created without loss or long waits; the stateless ones reference them.
type Pipeline struct {
	Config Config
	// Account is the account-level settings stack (shared by every userId); nil when the
	// apiGatewayCloudWatchRole context key is false.
	Account   *AccountStack
	Network   *NetworkStack
	Storage   *StorageStack
	Kafka     *KafkaStack
	Ingestion *IngestionStack

	// The processing half: streams cleaned into Iceberg, the daily batch job, Athena, monitoring.
	Streaming  *StreamingStack
	Batch      *BatchStack
	Query      *QueryStack
	Monitoring *MonitoringStack
	// Emulator is set when the emulator context key is true.
	Emulator *EmulatorStack
	// GitHubOidc is set when the githubRepo context key is: the cdk diff role of that repository.
	GitHubOidc *GitHubOidcStack
}

// NewPipeline declares all stacks of the pipeline in scope (the App) from cfg, which must have
// been validated (LoadConfig does it).
func NewPipeline(scope constructs.Construct, cfg Config) *Pipeline {
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	p := &Pipeline{Config: cfg}
	base := cfg.StackProps()
	awscdk.Tags_Of(scope).Add(jsii.String("project"), jsii.String("pinpipe"), nil)
	awscdk.Tags_Of(scope).Add(jsii.String(userTag), jsii.String(cfg.UserID), nil)

	if cfg.ApiGatewayCloudWatchRole {
		p.Account = NewAccountStack(scope, &base)
	}

	p.Network = NewNetworkStack(scope, cfg.StackID("Network"), &NetworkStackProps{StackProps: base, Config: cfg})
	p.Storage = NewStorageStack(scope, cfg.StackID("Storage"), &StorageStackProps{StackProps: base, Config: cfg})
	p.Kafka = NewKafkaStack(scope, cfg.StackID("Kafka"), &KafkaStackProps{
		StackProps: base, Config: cfg, Vpc: p.Network.Vpc,
	})
	p.Ingestion = NewIngestionStack(scope, cfg.StackID("Ingestion"), &IngestionStackProps{
		StackProps: base, Config: cfg, Network: p.Network, Storage: p.Storage, Kafka: p.Kafka,
	})
	if p.Account != nil {
		p.Ingestion.AddStackDependency(p.Account.Stack, jsii.String("the API stage logs to CloudWatch, which needs the account's API Gateway role"))
	}
	p.addProcessing(scope, base)
	if cfg.GithubRepo != "" {
		qualifier, _ := scope.Node().TryGetContext(jsii.String("@aws-cdk/core:bootstrapQualifier")).(string)
		p.GitHubOidc = NewGitHubOidcStack(scope, GitHubOidcStackID, &GitHubOidcStackProps{StackProps: base,
			Repo: cfg.GithubRepo, ProviderArn: cfg.GithubOidcProviderArn, BootstrapQualifier: qualifier})
	}
	return p
}

// userTag is the tag that names the userId a resource belongs to.
const userTag = "pinpipe:user"

// StackID is the construct id (and CloudFormation stack name) of a stack: Pinpipe-<userId>-<name>.
func (c Config) StackID(name string) string { return fmt.Sprintf("Pinpipe-%s-%s", c.UserID, name) }

// StackProps is the environment every stack is deployed to: the CLI's account and region when
// known, environment-agnostic otherwise.
func (c Config) StackProps() awscdk.StackProps {
	sp := awscdk.StackProps{}
	if c.Account != "" || c.Region != "" {
		env := &awscdk.Environment{}
		if c.Account != "" {
			env.Account = jsii.String(c.Account)
		}
		if c.Region != "" {
			env.Region = jsii.String(c.Region)
		}
		sp.Env = env
	}
	return sp
}

// removal is the removal policy of stateful resources: RETAIN unless destroyData is set.
func (c Config) removal() awscdk.RemovalPolicy {
	if c.DestroyData {
		return awscdk.RemovalPolicy_DESTROY
	}
	return awscdk.RemovalPolicy_RETAIN
}
