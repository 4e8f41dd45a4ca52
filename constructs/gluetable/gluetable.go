// Package gluetable is the L3 construct for an external Glue table over files under one S3
// prefix: newline-delimited JSON (the S3 sink's raw records, for exploration) or Parquet (clean
// tables the batch job writes). Athena reads every file below the prefix, sub-folders included.
package gluetable

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Format of the files under the prefix.
type Format string

const (
	JSON    Format = "json"
	Parquet Format = "parquet"
)

// Props configures a Table. All fields but Description and RemovalPolicy are required.
type Props struct {
	DatabaseName string
	Name         string
	Description  string
	Bucket       awss3.IBucket
	// Prefix holding the files, ending with /.
	Prefix  string
	Format  Format
	Columns []*awsglue.CfnTable_ColumnProperty
	// PartitionKeys and Parameters (e.g. Athena partition projection) are added to the table.
	PartitionKeys []*awsglue.CfnTable_ColumnProperty
	Parameters    map[string]string
	// RemovalPolicy of the table (metadata only; the files stay). Default DESTROY.
	RemovalPolicy awscdk.RemovalPolicy
}

// Table is the declared table.
type Table struct {
	constructs.Construct
	Table awsglue.CfnTable
	// DatabaseName, Name, Bucket and Prefix are Props': where the table is and where its data
	// lies (for granting readers exactly that).
	DatabaseName, Name string
	Bucket             awss3.IBucket
	Prefix             string
}

var glueName = regexp.MustCompile(`^[a-z0-9_]{1,255}$`)

func validate(p *Props) error {
	switch {
	case !glueName.MatchString(p.DatabaseName):
		return fmt.Errorf("gluetable.Props.DatabaseName: %q must be lower case letters, digits and underscores", p.DatabaseName)
	case !glueName.MatchString(p.Name):
		return fmt.Errorf("gluetable.Props.Name: %q must be lower case letters, digits and underscores", p.Name)
	case p.Bucket == nil:
		return fmt.Errorf("gluetable.Props.Bucket: required")
	case p.Prefix == "" || !strings.HasSuffix(p.Prefix, "/") || strings.HasPrefix(p.Prefix, "/"):
		return fmt.Errorf("gluetable.Props.Prefix: %q must be a key prefix ending with /", p.Prefix)
	case p.Format != JSON && p.Format != Parquet:
		return fmt.Errorf("gluetable.Props.Format: %q is not json or parquet", p.Format)
	case len(p.Columns) == 0:
		return fmt.Errorf("gluetable.Props.Columns: at least one column is required")
	}
	for i, c := range p.Columns {
		if c == nil || c.Name == nil || c.Type == nil || *c.Name == "" || *c.Type == "" {
			return fmt.Errorf("gluetable.Props.Columns[%d]: name and type are required", i)
		}
	}
	return nil
}

// New declares the table. Invalid props panic with a message naming the field, as CDK
// constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *Table {
	if props == nil {
		panic("gluetable.Props: required")
	}
	if err := validate(props); err != nil {
		panic(err.Error())
	}
	p := *props
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_DESTROY
	}
	sd := &awsglue.CfnTable_StorageDescriptorProperty{
		Columns:  p.Columns,
		Location: jsii.String("s3://" + *p.Bucket.BucketName() + "/" + p.Prefix),
	}
	params := map[string]string{"classification": string(p.Format)}
	for k, v := range p.Parameters {
		params[k] = v
	}
	switch p.Format {
	case JSON:
		sd.InputFormat = jsii.String("org.apache.hadoop.mapred.TextInputFormat")
		sd.OutputFormat = jsii.String("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat")
		sd.SerdeInfo = &awsglue.CfnTable_SerdeInfoProperty{
			SerializationLibrary: jsii.String("org.openx.data.jsonserde.JsonSerDe"),
			// A malformed line reads as nulls instead of failing the whole query: raw data is
			// for exploration, and bad lines are exactly what one explores.
			Parameters: map[string]string{"ignore.malformed.json": "true", "case.insensitive": "true"},
		}
	case Parquet:
		sd.InputFormat = jsii.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
		sd.OutputFormat = jsii.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
		sd.SerdeInfo = &awsglue.CfnTable_SerdeInfoProperty{
			SerializationLibrary: jsii.String("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"),
		}
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	t := &Table{Construct: c, DatabaseName: p.DatabaseName, Name: p.Name, Bucket: p.Bucket, Prefix: p.Prefix}
	ti := &awsglue.CfnTable_TableInputProperty{
		Name:              jsii.String(p.Name),
		TableType:         jsii.String("EXTERNAL_TABLE"),
		Parameters:        params,
		StorageDescriptor: sd,
	}
	if len(p.PartitionKeys) > 0 {
		ti.PartitionKeys = p.PartitionKeys
	}
	if p.Description != "" {
		ti.Description = jsii.String(p.Description)
	}
	t.Table = awsglue.NewCfnTable(c, jsii.String("Table"), &awsglue.CfnTableProps{
		CatalogId:    awscdk.Stack_Of(c).Account(),
		DatabaseName: jsii.String(p.DatabaseName),
		TableInput:   ti,
	})
	t.Table.ApplyRemovalPolicy(p.RemovalPolicy, nil)
	return t
}
