// Package icebergstream is the L3 construct for a Kinesis data stream cleaned continuously into an
// Apache Iceberg table: a Glue table declared with the clean schema, and a Kinesis Data Firehose
// delivery stream that reads the stream, transforms each batch with a Lambda function and writes
// the result to the table, with records that fail kept under an error prefix.
//
// Why Firehose and not a Spark job: it has no cluster to run, costs nothing while the stream is
// idle, and writes Iceberg (queryable by Athena) natively.
package icebergstream

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/pinpipe/pinpipe/constructs/golambda"
)

// Props configures an IcebergStream. Source, DatabaseName, TableName, Columns, Warehouse and
// Transform are required.
type Props struct {
	// Source is the Kinesis data stream read by the delivery stream.
	Source awskinesis.IStream
	// DatabaseName is the Glue database holding the table (created by the caller, shared by
	// several tables). Lower case letters, digits and underscores.
	DatabaseName string
	// TableName is the Iceberg table's name, e.g. "0ec858bf1407_pin_table".
	TableName string
	// Columns of the table, in order, with Hive type names (int, bigint, string, double,
	// timestamp, array<double>, ...). They must match what Transform emits.
	Columns []*awsglue.CfnTable_ColumnProperty
	// UniqueKeys, when set, makes rows with the same key values replace each other when the
	// transformation marks a record as an update (Firehose's Iceberg upsert).
	UniqueKeys []string
	// Warehouse is the bucket holding the table's data and the failed records.
	Warehouse awss3.IBucket
	// WarehousePrefix is the key prefix of the Iceberg warehouse. Default "iceberg/"; the table
	// lives under <WarehousePrefix><DatabaseName>.db/<TableName>/.
	WarehousePrefix string
	// ErrorPrefix is the key prefix of records that could not be transformed or delivered.
	// Default "firehose-errors/<TableName>/".
	ErrorPrefix string
	// Transform is the Lambda function that cleans each batch (Firehose's transformation
	// record contract).
	Transform awslambda.IFunction
	// BufferInterval is how long Firehose buffers before writing. Default 60 seconds; 0 to 900 s.
	BufferInterval awscdk.Duration
	// BufferSizeMiB is how much Firehose buffers before writing. Default 1 MiB; 1 to 128.
	BufferSizeMiB float64
	// LogRetention of the delivery stream's error log group. Default one month.
	LogRetention awslogs.RetentionDays
	// TableRemovalPolicy applies to the Glue table (its data stays in Warehouse either way).
	// Default RETAIN, like the data it describes.
	TableRemovalPolicy awscdk.RemovalPolicy
}

// IcebergStream is a cleaned stream and what it is made of.
type IcebergStream struct {
	constructs.Construct
	// Table is the Iceberg table (a Custom::IcebergTable, see New).
	Table          awscdk.CustomResource
	DeliveryStream awskinesisfirehose.CfnDeliveryStream
	Role           awsiam.Role
	LogGroup       awslogs.LogGroup
	// ErrorPrefix is the key prefix of failed records in the warehouse bucket.
	ErrorPrefix string
}

var glueName = regexp.MustCompile(`^[a-z0-9_]{1,255}$`)

func validate(p *Props) error {
	switch {
	case p.Source == nil:
		return fmt.Errorf("icebergstream.Props.Source: required (the Kinesis stream to read)")
	case !glueName.MatchString(p.DatabaseName):
		return fmt.Errorf("icebergstream.Props.DatabaseName: %q must be lower case letters, digits and underscores", p.DatabaseName)
	case !glueName.MatchString(p.TableName):
		return fmt.Errorf("icebergstream.Props.TableName: %q must be lower case letters, digits and underscores", p.TableName)
	case len(p.Columns) == 0:
		return fmt.Errorf("icebergstream.Props.Columns: at least one column is required")
	case p.Warehouse == nil:
		return fmt.Errorf("icebergstream.Props.Warehouse: required (the bucket for the table's data)")
	case p.Transform == nil:
		return fmt.Errorf("icebergstream.Props.Transform: required (the cleaning Lambda function)")
	case p.BufferSizeMiB != 0 && (p.BufferSizeMiB < 1 || p.BufferSizeMiB > 128):
		return fmt.Errorf("icebergstream.Props.BufferSizeMiB: %v is outside 1..128", p.BufferSizeMiB)
	}
	if p.BufferInterval != nil {
		if s := *p.BufferInterval.ToSeconds(nil); s < 0 || s > 900 {
			return fmt.Errorf("icebergstream.Props.BufferInterval: %v s is outside 0..900", s)
		}
	}
	names := map[string]bool{}
	for i, c := range p.Columns {
		if c == nil || c.Name == nil || c.Type == nil || *c.Name == "" || *c.Type == "" {
			return fmt.Errorf("icebergstream.Props.Columns[%d]: name and type are required", i)
		}
		names[*c.Name] = true
	}
	for _, k := range p.UniqueKeys {
		if !names[k] {
			return fmt.Errorf("icebergstream.Props.UniqueKeys: %q is not a column", k)
		}
	}
	for _, pre := range []struct{ field, v string }{{"WarehousePrefix", p.WarehousePrefix}, {"ErrorPrefix", p.ErrorPrefix}} {
		if pre.v != "" && (!strings.HasSuffix(pre.v, "/") || strings.HasPrefix(pre.v, "/")) {
			return fmt.Errorf("icebergstream.Props.%s: %q must end with / and not start with /", pre.field, pre.v)
		}
	}
	return nil
}

// New declares the table and the delivery stream. Invalid props panic with a message naming the
// field, as CDK constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *IcebergStream {
	if props == nil {
		panic("icebergstream.Props: required")
	}
	if err := validate(props); err != nil {
		panic(err.Error())
	}
	p := *props
	if p.WarehousePrefix == "" {
		p.WarehousePrefix = "iceberg/"
	}
	if p.ErrorPrefix == "" {
		p.ErrorPrefix = "firehose-errors/" + p.TableName + "/"
	}
	if p.BufferInterval == nil {
		p.BufferInterval = awscdk.Duration_Seconds(jsii.Number(60))
	}
	if p.BufferSizeMiB == 0 {
		p.BufferSizeMiB = 1
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	if p.TableRemovalPolicy == "" {
		p.TableRemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &IcebergStream{Construct: c, ErrorPrefix: p.ErrorPrefix}
	stack := awscdk.Stack_Of(c)

	tablePrefix := p.WarehousePrefix + p.DatabaseName + ".db/" + p.TableName + "/"
	// The table is a custom resource (lambda/icebergtable), not an AWS::Glue::Table: a later
	// change to an AWS::Glue::Table strips its Iceberg parameters (cloudformation-coverage-
	// roadmap #1919, #2495); the handler applies column changes as Iceberg schema evolution.
	// Its properties are AWS::Glue::Table's.
	cols := make([]interface{}, len(p.Columns))
	for i, col := range p.Columns {
		cols[i] = map[string]interface{}{"Name": *col.Name, "Type": *col.Type}
	}
	retain := "true"
	if p.TableRemovalPolicy == awscdk.RemovalPolicy_DESTROY {
		retain = "false"
	}
	provider := tableProvider(stack)
	s.Table = awscdk.NewCustomResource(c, jsii.String("Table"), &awscdk.CustomResourceProps{
		ServiceToken: provider.Function.FunctionArn(),
		ResourceType: jsii.String(TableResourceType),
		Properties: &map[string]interface{}{
			"CatalogId":    stack.Account(),
			"DatabaseName": p.DatabaseName,
			"TableInput": map[string]interface{}{
				"Name":        p.TableName,
				"Description": "Cleaned records of Kinesis stream " + *p.Source.StreamName() + ", written by Firehose",
				"TableType":   "EXTERNAL_TABLE",
				"StorageDescriptor": map[string]interface{}{
					"Columns":  cols,
					"Location": "s3://" + *p.Warehouse.BucketName() + "/" + tablePrefix,
				},
			},
			"OpenTableFormatInput": map[string]interface{}{
				"IcebergInput": map[string]interface{}{"MetadataOperation": "CREATE", "Version": "2"},
			},
			"RetainOnDelete": retain,
		},
		RemovalPolicy: p.TableRemovalPolicy,
	})
	// The provider may act on this table only: the Glue calls, and the metadata files under the
	// table's prefix (Glue writes them with the caller's permissions).
	catalogArn := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("glue"), Resource: jsii.String("catalog")})
	databaseArn := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("glue"), Resource: jsii.String("database"), ResourceName: jsii.String(p.DatabaseName)})
	tableArn := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("glue"), Resource: jsii.String("table"), ResourceName: jsii.String(p.DatabaseName + "/" + p.TableName)})
	policy := awsiam.NewPolicy(c, jsii.String("TablePolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{provider.Role},
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"),
			Resources: &[]*string{catalogArn, databaseArn, tableArn},
		})},
	})
	p.Warehouse.GrantReadWrite(policy, jsii.String(tablePrefix+"*"))
	s.Table.Node().AddDependency(policy)
	cdknag.NagSuppressions_AddResourceSuppressions(policy, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("the table provider reads and writes the Iceberg metadata files of this one table, under its own prefix " +
			"(their names are made by Glue)"),
	}}, jsii.Bool(true))

	s.LogGroup = awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	logStream := awslogs.NewLogStream(c, jsii.String("DeliveryLog"), &awslogs.LogStreamProps{
		LogGroup:      s.LogGroup,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	s.Role = awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("firehose.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"sts:ExternalId": stack.Account()}},
		}),
		Description: jsii.String("Firehose: reads " + *p.Source.StreamName() + ", writes Iceberg table " + p.TableName),
	})
	p.Source.GrantRead(s.Role)
	p.Transform.GrantInvoke(s.Role)
	// Firehose's documented role policy also reads the function's configuration.
	s.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:GetFunctionConfiguration"),
		Resources: &[]*string{p.Transform.FunctionArn()},
	}))
	// Read, write and delete (Iceberg replaces its metadata files) under the table's prefix only.
	p.Warehouse.GrantReadWrite(s.Role, jsii.String(tablePrefix+"*"))
	p.Warehouse.GrantPut(s.Role, jsii.String(p.ErrorPrefix+"*"))
	s.LogGroup.GrantWrite(s.Role)
	s.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"),
		Resources: &[]*string{catalogArn, databaseArn, tableArn},
	}))

	var uniqueKeys *[]*string
	if len(p.UniqueKeys) > 0 {
		uniqueKeys = jsii.Strings(p.UniqueKeys...)
	}
	buffering := &awskinesisfirehose.CfnDeliveryStream_BufferingHintsProperty{
		IntervalInSeconds: p.BufferInterval.ToSeconds(nil),
		SizeInMBs:         jsii.Number(p.BufferSizeMiB),
	}
	logging := &awskinesisfirehose.CfnDeliveryStream_CloudWatchLoggingOptionsProperty{
		Enabled:       jsii.Bool(true),
		LogGroupName:  s.LogGroup.LogGroupName(),
		LogStreamName: logStream.LogStreamName(),
	}
	param := func(name, value string) *awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty {
		return &awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{ParameterName: jsii.String(name), ParameterValue: jsii.String(value)}
	}
	s.DeliveryStream = awskinesisfirehose.NewCfnDeliveryStream(c, jsii.String("DeliveryStream"), &awskinesisfirehose.CfnDeliveryStreamProps{
		DeliveryStreamType: jsii.String("KinesisStreamAsSource"),
		KinesisStreamSourceConfiguration: &awskinesisfirehose.CfnDeliveryStream_KinesisStreamSourceConfigurationProperty{
			KinesisStreamArn: p.Source.StreamArn(),
			RoleArn:          s.Role.RoleArn(),
		},
		IcebergDestinationConfiguration: &awskinesisfirehose.CfnDeliveryStream_IcebergDestinationConfigurationProperty{
			RoleArn: s.Role.RoleArn(),
			CatalogConfiguration: &awskinesisfirehose.CfnDeliveryStream_CatalogConfigurationProperty{
				CatalogArn:        catalogArn,
				WarehouseLocation: jsii.String("s3://" + *p.Warehouse.BucketName() + "/" + p.WarehousePrefix),
			},
			DestinationTableConfigurationList: []interface{}{
				&awskinesisfirehose.CfnDeliveryStream_DestinationTableConfigurationProperty{
					DestinationDatabaseName: jsii.String(p.DatabaseName),
					DestinationTableName:    jsii.String(p.TableName),
					S3ErrorOutputPrefix:     jsii.String(p.ErrorPrefix),
					UniqueKeys:              uniqueKeys,
				},
			},
			BufferingHints:           buffering,
			CloudWatchLoggingOptions: logging,
			ProcessingConfiguration: &awskinesisfirehose.CfnDeliveryStream_ProcessingConfigurationProperty{
				Enabled: jsii.Bool(true),
				Processors: []interface{}{&awskinesisfirehose.CfnDeliveryStream_ProcessorProperty{
					Type: jsii.String("Lambda"),
					Parameters: []interface{}{
						param("LambdaArn", *p.Transform.FunctionArn()),
						param("BufferSizeInMBs", "1"),
						// The processor's own buffer accepts 60..900 s only.
						param("BufferIntervalInSeconds", fmt.Sprint(max(60, *p.BufferInterval.ToSeconds(nil)))),
						param("NumberOfRetries", "3"),
					},
				}},
			},
			RetryOptions: &awskinesisfirehose.CfnDeliveryStream_RetryOptionsProperty{DurationInSeconds: jsii.Number(300)},
			S3BackupMode: jsii.String("FailedDataOnly"),
			S3Configuration: &awskinesisfirehose.CfnDeliveryStream_S3DestinationConfigurationProperty{
				BucketArn:                p.Warehouse.BucketArn(),
				RoleArn:                  s.Role.RoleArn(),
				ErrorOutputPrefix:        jsii.String(p.ErrorPrefix),
				Prefix:                   jsii.String(p.ErrorPrefix + "backup/"),
				BufferingHints:           buffering,
				CloudWatchLoggingOptions: logging,
			},
		},
	})
	// Firehose checks its role when the stream is created: the policy must exist first, and
	// the table must exist before the first write.
	s.DeliveryStream.Node().AddDependency(s.Role, s.Table)
	return s
}

// TableResourceType is the CloudFormation type of the Iceberg tables.
const TableResourceType = "Custom::IcebergTable"

// tableProviderID is the construct id of the stack's one Iceberg table provider.
const tableProviderID = "IcebergTableProvider"

// provider is the stack's lambda/icebergtable function and its role.
type provider struct {
	Function awslambda.IFunction
	Role     awsiam.IRole
}

// tableProvider is the stack's lambda/icebergtable function, declared on first use; each table
// grants its role what that table needs.
func tableProvider(stack awscdk.Stack) provider {
	if existing := stack.Node().TryFindChild(jsii.String(tableProviderID)); existing != nil {
		return provider{
			Function: existing.Node().FindChild(jsii.String("Function")).(awslambda.Function),
			Role:     existing.Node().FindChild(jsii.String("Role")).(awsiam.Role),
		}
	}
	fn := golambda.New(stack, tableProviderID, &golambda.Props{
		Entry:       "lambda/icebergtable",
		Description: "Creates Iceberg tables in Glue and evolves their schema (Custom::IcebergTable)",
		Timeout:     awscdk.Duration_Minutes(jsii.Number(2)),
	})
	return provider{Function: fn.Function, Role: fn.Role}
}
