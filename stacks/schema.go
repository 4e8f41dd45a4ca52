package stacks

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/record"
)

// col is a Glue column.
func col(name, typ string) *awsglue.CfnTable_ColumnProperty {
	return &awsglue.CfnTable_ColumnProperty{Name: jsii.String(name), Type: jsii.String(typ)}
}

// CleanColumns are the clean schemas of the cleaning contract (DESIGN.md), with the types the
// cleaner emits (integers are 64-bit, timestamps UTC), in the contract's column order. The
// streaming Iceberg tables and the Glue tables over the batch job's clean Parquet use them.
var CleanColumns = map[record.Kind][]*awsglue.CfnTable_ColumnProperty{
	record.Pin: {col("ind", "bigint"), col("unique_id", "string"), col("title", "string"), col("description", "string"),
		col("follower_count", "bigint"), col("poster_name", "string"), col("tag_list", "string"),
		col("is_image_or_video", "string"), col("image_src", "string"), col("save_location", "string"), col("category", "string")},
	record.Geo:  {col("ind", "bigint"), col("country", "string"), col("coordinates", "array<double>"), col("timestamp", "timestamp")},
	record.User: {col("ind", "bigint"), col("user_name", "string"), col("age", "bigint"), col("date_joined", "timestamp")},
}

// RawColumns are the source records as the S3 sink stores them (the record contract): the
// datetimes stay strings, the counts stay text, nothing is cleaned.
var RawColumns = map[record.Kind][]*awsglue.CfnTable_ColumnProperty{
	record.Pin: {col("index", "bigint"), col("unique_id", "string"), col("title", "string"), col("description", "string"),
		col("poster_name", "string"), col("follower_count", "string"), col("tag_list", "string"),
		col("is_image_or_video", "string"), col("image_src", "string"), col("downloaded", "bigint"),
		col("save_location", "string"), col("category", "string")},
	record.Geo:  {col("ind", "bigint"), col("timestamp", "string"), col("latitude", "double"), col("longitude", "double"), col("country", "string")},
	record.User: {col("ind", "bigint"), col("first_name", "string"), col("last_name", "string"), col("age", "bigint"), col("date_joined", "string")},
}

// glueID is a user id as Glue names allow it: '-' becomes '_'.
func glueID(userID string) string { return strings.ReplaceAll(userID, "-", "_") }

// DatabaseName is the Glue database of a user's tables. It starts with a letter because Athena
// needs quotes around names that start with a digit, as user ids may.
func DatabaseName(userID string) string { return "pinpipe_" + glueID(userID) }

// StreamTableName is the streaming table of a kind: <userId>_<kind>_table, as in the original.
func StreamTableName(userID string, k record.Kind) string {
	return glueID(userID) + "_" + string(k) + "_table"
}

// RawTableName and CleanTableName name the Glue tables of a kind over the sink's raw JSON and
// the batch job's clean Parquet. The clean tables carry the names the analysis SQL uses (pin,
// geo, user), so the named queries run unchanged.
func RawTableName(k record.Kind) string   { return "raw_" + string(k) }
func CleanTableName(k record.Kind) string { return string(k) }
