package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/golambda"
	"github.com/pinpipe/pinpipe/constructs/icebergstream"
	"github.com/pinpipe/pinpipe/record"
)

// StreamingStackProps configures the streaming stack.
type StreamingStackProps struct {
	awscdk.StackProps
	Config Config
	// Streams by kind (the storage stack's).
	Streams map[record.Kind]awskinesis.Stream
	// Warehouse holds the Iceberg tables (under iceberg/) and failed records (firehose-errors/).
	Warehouse awss3.IBucket
}

// StreamingStack cleans the three Kinesis streams continuously into Iceberg tables
// <userId>_pin_table, _geo_table and _user_table of the Glue database pinpipe_<userId>.
type StreamingStack struct {
	awscdk.Stack
	Database     awsglue.CfnDatabase
	DatabaseName string
	// Cleaner is the Firehose transformation (lambda/streamclean); it takes the kind from the
	// source stream's name, so one function serves the three delivery streams.
	Cleaner *golambda.GoFunction
	Tables  map[record.Kind]*icebergstream.IcebergStream
}

// NewStreamingStack declares the Glue database, the cleaner Lambda and one delivery stream and
// Iceberg table per stream.
func NewStreamingStack(scope constructs.Construct, id string, props *StreamingStackProps) *StreamingStack {
	if props == nil || props.Warehouse == nil {
		panic("stacks.StreamingStackProps: Warehouse is required")
	}
	for _, k := range record.Kinds {
		if props.Streams[k] == nil {
			panic("stacks.StreamingStackProps.Streams: the " + string(k) + " stream is required")
		}
	}
	cfg := props.Config
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &StreamingStack{Stack: stack, DatabaseName: DatabaseName(cfg.UserID), Tables: map[record.Kind]*icebergstream.IcebergStream{}}
	s.Database = awsglue.NewCfnDatabase(stack, jsii.String("Database"), &awsglue.CfnDatabaseProps{
		CatalogId: stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(s.DatabaseName),
			Description: jsii.String("pinpipe tables of user " + cfg.UserID + ": streaming (Iceberg), batch (Parquet) and raw (JSON)"),
		},
	})
	s.Database.ApplyRemovalPolicy(cfg.removal(), nil)

	s.Cleaner = golambda.New(stack, "StreamClean", &golambda.Props{
		Entry:       "lambda/streamclean",
		Description: "Firehose transformation: cleans pin, geo and user records (analytics/clean)",
		MemorySize:  256,
		Timeout:     awscdk.Duration_Minutes(jsii.Number(1)),
		// No reserved concurrency: Firehose runs about one batch per shard at a time, so the
		// cleaner cannot starve other functions, and a reservation would fail to deploy in new
		// accounts whose concurrency quota is 10.
	})

	for _, k := range record.Kinds {
		t := icebergstream.New(stack, "Clean"+kindTitle(k), &icebergstream.Props{
			Source:             props.Streams[k],
			DatabaseName:       s.DatabaseName,
			TableName:          record.StreamTable(cfg.UserID, k),
			Columns:            CleanColumns[k],
			Warehouse:          props.Warehouse,
			Transform:          s.Cleaner.Function,
			BufferInterval:     awscdk.Duration_Seconds(jsii.Number(float64(cfg.FirehoseBufferSeconds))),
			BufferSizeMiB:      float64(cfg.FirehoseBufferMiB),
			TableRemovalPolicy: cfg.removal(),
		})
		t.Table.Node().AddDependency(s.Database)
		s.Tables[k] = t
		nagSuppress(t.Role, "AwsSolutions-IAM5",
			"scoped to this table: Iceberg data and metadata objects under its own prefix, failed records under its error prefix, "+
				"and the versions of the cleaner function (Firehose invokes <function ARN>:*)")
		nagSuppress(t.DeliveryStream, "AwsSolutions-KDF1",
			"a delivery stream that reads a Kinesis stream takes no SSE setting of its own; the source stream is encrypted "+
				"and the table's files land in an encrypted bucket")
	}
	return s
}
