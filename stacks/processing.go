package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/monitoring"
	"github.com/pinpipe/pinpipe/record"
)

// addProcessing declares the processing half over the ingestion stacks: the streaming tables,
// the batch job and its schedule, the Athena tables and queries, and the monitoring.
func (p *Pipeline) addProcessing(scope constructs.Construct, base awscdk.StackProps) {
	cfg := p.Config
	streams := map[record.Kind]awskinesis.Stream{}
	for k, s := range p.Storage.Streams {
		streams[k] = s
	}
	p.Streaming = NewStreamingStack(scope, cfg.StackID("Streaming"), &StreamingStackProps{
		StackProps: base, Config: cfg, Streams: streams, Warehouse: p.Storage.ResultsBucket,
	})
	p.Query = NewQueryStack(scope, cfg.StackID("Query"), &QueryStackProps{
		StackProps: base, Config: cfg, DatabaseName: p.Streaming.DatabaseName,
		Sink: p.Storage.SinkBucket, Results: p.Storage.ResultsBucket,
	})
	// The tables go into the streaming stack's database.
	p.Query.AddStackDependency(p.Streaming.Stack, jsii.String("the Glue tables go into the streaming stack's database"))
	p.Batch = NewBatchStack(scope, cfg.StackID("Batch"), &BatchStackProps{
		StackProps: base, Config: cfg, Vpc: p.Network.Vpc,
		Sink: p.Storage.SinkBucket, Results: p.Storage.ResultsBucket, AccessLogs: p.Storage.AccessLogBucket,
		Query: p.Query,
	})
	if cfg.AnalysisEngine == EngineAthena {
		// The daily job queries the workgroup and the clean tables (by name: no cross-stack
		// reference); they must exist before its first run.
		p.Batch.AddStackDependency(p.Query.Stack, jsii.String("the daily job runs its analyses in the query stack's Athena workgroup"))
	}

	delivery := map[record.Kind]*string{}
	for k, t := range p.Streaming.Tables {
		delivery[k] = t.DeliveryStream.Ref()
	}
	functions := map[string]awslambda.IFunction{"StreamClean": p.Streaming.Cleaner.Function}
	if cfg.Emulator {
		ep := &EmulatorStackProps{
			StackProps: base, Config: cfg, InvokeUrl: p.Ingestion.ApiUrl,
			Api: p.Ingestion.Api.Api, Stage: p.Ingestion.Api.Stage,
		}
		if p.Ingestion.Api.UsagePlan != nil {
			ep.UsagePlan = p.Ingestion.Api.UsagePlan
		}
		p.Emulator = NewEmulatorStack(scope, cfg.StackID("Emulator"), ep)
		for mode, fn := range p.Emulator.Functions {
			functions["Emulator"+mode] = fn.Function
		}
	}
	api := p.Ingestion.Api.Api
	mp := &MonitoringStackProps{
		StackProps: base, Config: cfg, Streams: streams, DeliveryStreams: delivery, Functions: functions,
		Api:           &monitoring.Api{Name: *api.RestApiName(), Stage: *api.DeploymentStage().StageName()},
		EcsClusterArn: p.Batch.Task.Cluster.ClusterArn(),
	}
	if p.Batch.Flow != nil {
		mp.StateMachineArn = p.Batch.Flow.StateMachine.StateMachineArn()
	}
	p.Monitoring = NewMonitoringStack(scope, cfg.StackID("Monitoring"), mp)
}

// ProcessingStacks lists the stacks of the processing half.
func (p *Pipeline) ProcessingStacks() []awscdk.Stack {
	out := []awscdk.Stack{p.Streaming.Stack, p.Batch.Stack, p.Query.Stack, p.Monitoring.Stack}
	if p.Emulator != nil {
		out = append(out, p.Emulator.Stack)
	}
	return out
}
