package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/pinpipe/pinpipe/constructs/golambda"
	"github.com/pinpipe/pinpipe/constructs/icebergstream"
)

// StreamingStackProps configures the streaming stack.
type StreamingStackProps struct {
	awscdk.StackProps
	UserID string
	// Streams by kind ("pin", "geo", "user").
	Streams map[string]awskinesis.IStream
	// Warehouse holds the Iceberg tables (under iceberg/) and failed records (firehose-errors/).
	Warehouse awss3.IBucket
	// BufferInterval (seconds) and BufferSizeMiB of the delivery streams. Default 60 s, 1 MiB.
	BufferInterval float64
	BufferSizeMiB  float64
	// DestroyData removes the Glue database and tables on `cdk destroy` (their data stays in the
	// warehouse bucket unless that bucket is destroyed too).
	DestroyData bool
	// ModuleRoot holds go.mod. Default: found from the working directory.
	ModuleRoot string
}

// StreamingStack cleans the three Kinesis streams continuously into Iceberg tables.
type StreamingStack struct {
	awscdk.Stack
	Database     awsglue.CfnDatabase
	DatabaseName string
	Cleaner      *golambda.GoFunction
	Tables       map[string]*icebergstream.IcebergStream
}

// NewStreamingStack declares the Glue database, the cleaner Lambda and one delivery stream and
// Iceberg table per stream.
func NewStreamingStack(scope constructs.Construct, id string, props *StreamingStackProps) *StreamingStack {
	if props == nil || props.UserID == "" || props.Warehouse == nil {
		panic("stacks.StreamingStackProps: UserID and Warehouse are required")
	}
	for _, k := range Kinds {
		if props.Streams[k] == nil {
			panic("stacks.StreamingStackProps.Streams: the " + k + " stream is required")
		}
	}
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	s := &StreamingStack{Stack: stack, DatabaseName: DatabaseName(props.UserID), Tables: map[string]*icebergstream.IcebergStream{}}
	removal := awscdk.RemovalPolicy_RETAIN
	if props.DestroyData {
		removal = awscdk.RemovalPolicy_DESTROY
	}
	s.Database = awsglue.NewCfnDatabase(stack, jsii.String("Database"), &awsglue.CfnDatabaseProps{
		CatalogId: stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(s.DatabaseName),
			Description: jsii.String("pinpipe tables of user " + props.UserID + ": streaming (Iceberg), batch (Parquet) and raw (JSON)"),
		},
	})
	s.Database.ApplyRemovalPolicy(removal, nil)

	s.Cleaner = golambda.New(stack, "StreamClean", &golambda.Props{
		Entry:       "lambda/streamclean",
		ModuleRoot:  props.ModuleRoot,
		Description: "Firehose transformation: cleans pin, geo and user records (analytics/clean)",
		MemorySize:  256,
		Timeout:     awscdk.Duration_Minutes(jsii.Number(1)),
		// Three delivery streams, a few concurrent batches each: a cap keeps a burst from
		// starving the account's other functions.
		ReservedConcurrentExecutions: 30,
	})

	var buffer awscdk.Duration
	if props.BufferInterval > 0 {
		buffer = awscdk.Duration_Seconds(jsii.Number(props.BufferInterval))
	}
	for _, k := range Kinds {
		t := icebergstream.New(stack, "Clean"+k, &icebergstream.Props{
			Source:             props.Streams[k],
			DatabaseName:       s.DatabaseName,
			TableName:          StreamTableName(props.UserID, k),
			Columns:            CleanColumns[k],
			UniqueKeys:         []string{"ind"},
			Warehouse:          props.Warehouse,
			Transform:          s.Cleaner.Function,
			BufferInterval:     buffer,
			BufferSizeMiB:      props.BufferSizeMiB,
			TableRemovalPolicy: removal,
		})
		t.Table.Node().AddDependency(s.Database)
		s.Tables[k] = t
		cdknag.NagSuppressions_AddResourceSuppressions(t.Role, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("Scoped to this table: Iceberg data and metadata objects under its own prefix, failed records under its error prefix, " +
				"and the cleaner function's versions (Firehose invokes <function ARN>:*)"),
		}}, jsii.Bool(true))
		cdknag.NagSuppressions_AddResourceSuppressions(t.DeliveryStream, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-KDF1"),
			Reason: jsii.String("A delivery stream reading a Kinesis stream cannot take its own SSE setting; the source stream is encrypted and the Iceberg data lands in an encrypted bucket"),
		}}, jsii.Bool(false))
	}
	return s
}
