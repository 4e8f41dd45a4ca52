package test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/athena"
	"github.com/pinpipe/pinpipe/constructs/batchflow"
	"github.com/pinpipe/pinpipe/constructs/batchtask"
	"github.com/pinpipe/pinpipe/constructs/gluetable"
	"github.com/pinpipe/pinpipe/constructs/icebergstream"
	"github.com/pinpipe/pinpipe/constructs/monitoring"
	"github.com/pinpipe/pinpipe/constructs/mwaa"
	"github.com/pinpipe/pinpipe/constructs/schedule"
	"github.com/pinpipe/pinpipe/internal/testenv"
)

// panicText runs f and returns what it panicked with ("" if it did not).
func panicText(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// Each construct refuses bad props at synth time with a message naming the field.
func TestConstructPropsValidation(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	st := awscdk.NewStack(app, jsii.String("Probe"), nil)
	vpc := awsec2.NewVpc(st, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(2), NatGateways: jsii.Number(1)})
	bucket := awss3.NewBucket(st, jsii.String("Bucket"), nil)
	stream := awskinesis.NewStream(st, jsii.String("Stream"), nil)
	fn := awslambda.NewFunction(st, jsii.String("Fn"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_22_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("x")),
	})
	cols := []*awsglue.CfnTable_ColumnProperty{{Name: jsii.String("ind"), Type: jsii.String("bigint")}}
	ice := func(mut func(*icebergstream.Props)) func() {
		return func() {
			p := &icebergstream.Props{Source: stream, DatabaseName: "db", TableName: "t", Columns: cols, Warehouse: bucket, Transform: fn}
			mut(p)
			icebergstream.New(st, "Ice", p)
		}
	}
	root := testenv.RepoRoot()
	task := func(mut func(*batchtask.Props)) func() {
		return func() {
			p := &batchtask.Props{Vpc: vpc, Directory: root, Dockerfile: "analytics/Dockerfile",
				Input: bucket, InputPrefix: "in/", Output: bucket, OutputPrefix: "out/"}
			mut(p)
			batchtask.New(st, "Task", p)
		}
	}
	wg := athena.New(st, "FlowWorkgroup", &athena.Props{Name: "w", Results: bucket, ResultsPrefix: "a/", Database: "d"})
	flowTask := batchtask.New(st, "FlowTask", &batchtask.Props{Vpc: vpc, Directory: root, Dockerfile: "analytics/Dockerfile",
		Input: bucket, InputPrefix: "in/", Output: bucket, OutputPrefix: "out/"})
	flow := func(mut func(*batchflow.Props)) func() {
		return func() {
			p := &batchflow.Props{
				Task: flowTask, Workgroup: wg, Database: "d", Tables: []athena.Table{{Database: "d", Name: "t", Bucket: bucket, Prefix: "out/t/"}},
				Queries: map[string]string{"q": "SELECT 1"}, Publish: bucket, PublishPrefix: "out/",
			}
			mut(p)
			batchflow.New(st, "Flow", p)
		}
	}
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"iceberg database", "icebergstream.Props.DatabaseName", ice(func(p *icebergstream.Props) { p.DatabaseName = "Bad-Name" })},
		{"iceberg source", "icebergstream.Props.Source", ice(func(p *icebergstream.Props) { p.Source = nil })},
		{"iceberg buffer", "icebergstream.Props.BufferSizeMiB", ice(func(p *icebergstream.Props) { p.BufferSizeMiB = 129 })},
		{"iceberg interval", "icebergstream.Props.BufferInterval", ice(func(p *icebergstream.Props) { p.BufferInterval = awscdk.Duration_Minutes(jsii.Number(16)) })},
		{"iceberg unique key", "icebergstream.Props.UniqueKeys", ice(func(p *icebergstream.Props) { p.UniqueKeys = []string{"nope"} })},
		{"iceberg prefix", "icebergstream.Props.ErrorPrefix", ice(func(p *icebergstream.Props) { p.ErrorPrefix = "errors" })},
		{"task prefix", "batchtask.Props.InputPrefix", task(func(p *batchtask.Props) { p.InputPrefix = "" })},
		{"task whole bucket", "batchtask.Props.OutputPrefix", task(func(p *batchtask.Props) { p.OutputPrefix = "*" })},
		{"task dockerfile", "batchtask.Props.Dockerfile", task(func(p *batchtask.Props) { p.Dockerfile = "no/Dockerfile" })},
		{"task state outside output", "batchtask.Props.StatePrefixes", task(func(p *batchtask.Props) { p.StatePrefixes = []string{"in/state/"} })},
		{"task state is output", "batchtask.Props.StatePrefixes", task(func(p *batchtask.Props) { p.StatePrefixes = []string{"out/"} })},
		{"task read back outside state", "batchtask.Props.ReadBackPrefixes", task(func(p *batchtask.Props) {
			p.StatePrefixes, p.ReadBackPrefixes = []string{"out/state/"}, []string{"out/other/"}
		})},
		{"mwaa name", "mwaa.Props.Name", func() { mwaa.New(st, "M1", &mwaa.Props{Name: "1abc", Vpc: vpc, Dags: map[string]string{"d.py": ""}}) }},
		{"mwaa dags", "mwaa.Props.Dags", func() { mwaa.New(st, "M2", &mwaa.Props{Name: "abc", Vpc: vpc}) }},
		{"mwaa dag file", "mwaa.Props.Dags", func() { mwaa.New(st, "M3", &mwaa.Props{Name: "abc", Vpc: vpc, Dags: map[string]string{"../d.py": ""}}) }},
		{"schedule expression", "schedule.Props.Expression", func() { schedule.New(st, "S1", &schedule.Props{Expression: "daily", Function: fn}) }},
		{"schedule target", "schedule.Props.Task/Function", func() { schedule.New(st, "S2", &schedule.Props{Expression: "rate(1 day)"}) }},
		{"schedule subnets", "schedule.Props.Task.Subnets", func() {
			schedule.New(st, "S3", &schedule.Props{Expression: "rate(1 day)", Task: &schedule.EcsTask{ClusterArn: jsii.String("c"), TaskDefinitionArn: jsii.String("t")}})
		}},
		{"athena cutoff", "athena.Props.BytesScannedCutoff", func() {
			athena.New(st, "A1", &athena.Props{Name: "w", Results: bucket, ResultsPrefix: "a/", Database: "d", BytesScannedCutoff: 1})
		}},
		{"athena query name", "athena.Props.Queries", func() {
			athena.New(st, "A2", &athena.Props{Name: "w", Results: bucket, ResultsPrefix: "a/", Database: "d", Queries: map[string]string{"bad name": "SELECT 1"}})
		}},
		{"glue format", "gluetable.Props.Format", func() {
			gluetable.New(st, "G1", &gluetable.Props{DatabaseName: "d", Name: "t", Bucket: bucket, Prefix: "p/", Format: "csv", Columns: cols})
		}},
		{"monitoring name", "monitoring.Props.Name", func() { monitoring.New(st, "Mon", &monitoring.Props{Name: "has space"}) }},
		{"flow queries", "batchflow.Props.Queries", flow(func(p *batchflow.Props) { p.Queries = nil })},
		{"flow query name", "batchflow.Props.Queries", flow(func(p *batchflow.Props) { p.Queries = map[string]string{"a/b": "SELECT 1"} })},
		{"flow query jsonata", "batchflow.Props.Queries[q]", flow(func(p *batchflow.Props) { p.Queries = map[string]string{"q": " {% 1 %} "} })},
		{"flow prefix", "batchflow.Props.PublishPrefix", flow(func(p *batchflow.Props) { p.PublishPrefix = "out" })},
		{"flow tables", "batchflow.Props.Tables", flow(func(p *batchflow.Props) { p.Tables = nil })},
		{"flow name", "batchflow.Props.Name", flow(func(p *batchflow.Props) { p.Name = "has space" })},
		{"flow rebuild variable", "batchflow.Props.RebuildVariable", flow(func(p *batchflow.Props) { p.RebuildVariable = "1X" })},
	} {
		msg := panicText(tc.f)
		if !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s: want a panic naming %s, got %q", tc.name, tc.want, msg)
		}
	}
}
