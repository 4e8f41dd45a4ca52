package stacks

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/athena"
	"github.com/pinpipe/pinpipe/constructs/gluetable"
	"github.com/pinpipe/pinpipe/constructs/golambda"
	"github.com/pinpipe/pinpipe/record"
)

// AnalysisSQLDir holds the analysis queries the batch job runs, one <name>.sql per output.
const AnalysisSQLDir = "analytics/sql"

// CleanPrefix is where the Glue tables over the batch job's clean Parquet look, one folder per
// kind (<CleanPrefix><kind>/).
const CleanPrefix = BatchPrefix + "clean/"

// AthenaPrefix is where Athena writes query results in the results bucket.
const AthenaPrefix = "athena/"

// AthenaResultsDays is how long Athena's result files are kept under AthenaPrefix.
const AthenaResultsDays = 30

// QueryStackProps configures the query stack.
type QueryStackProps struct {
	awscdk.StackProps
	Config Config
	// DatabaseName is the Glue database (the streaming stack's) the tables go in.
	DatabaseName string
	// Sink holds the raw records under SinkPrefix; Results the clean tables under CleanPrefix
	// and Athena's results under AthenaPrefix.
	Sink    awss3.IBucket
	Results awss3.IBucket
}

// QueryStack makes the pipeline's data queryable with Athena.
type QueryStack struct {
	awscdk.Stack
	Workgroup *athena.Workgroup
	Raw       map[record.Kind]*gluetable.Table
	Clean     map[record.Kind]*gluetable.Table
	// Analyses are the eight analysis queries by output name, in Athena's dialect: the very text
	// of the saved queries of those names, which the batch job runs in Athena when
	// analysisEngine is athena.
	Analyses map[string]string
	// DatabaseName is the Glue database of the tables.
	DatabaseName string
}

// CleanTables are the clean tables as the analyses read them (athena.Table), in record.Kinds
// order.
func (s *QueryStack) CleanTables() []athena.Table {
	var out []athena.Table
	for _, k := range record.Kinds {
		t := s.Clean[k]
		out = append(out, athena.Table{Database: t.DatabaseName, Name: t.Name, Bucket: t.Bucket, Prefix: t.Prefix})
	}
	return out
}

// NewQueryStack declares the raw and clean tables, the workgroup and the named queries.
func NewQueryStack(scope constructs.Construct, id string, props *QueryStackProps) *QueryStack {
	if props == nil || props.DatabaseName == "" || props.Sink == nil || props.Results == nil {
		panic("stacks.QueryStackProps: DatabaseName, Sink and Results are required")
	}
	cfg := props.Config
	root, err := golambda.FindModuleRoot()
	if err != nil {
		panic("stacks.NewQueryStack: " + err.Error())
	}
	queries, err := AthenaQueries(filepath.Join(root, AnalysisSQLDir))
	if err != nil {
		panic(err.Error())
	}
	analyses := maps.Clone(queries)
	// The same queries over the streaming tables, as <name>_streaming.
	views := StreamingViews(cfg.UserID)
	for name, q := range maps.Clone(queries) {
		bound, err := athena.Bind(q, views)
		if err != nil {
			panic(fmt.Sprintf("analysis query %s: %v", name, err))
		}
		queries[name+StreamingSuffix] = bound
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &QueryStack{Stack: stack, Raw: map[record.Kind]*gluetable.Table{}, Clean: map[record.Kind]*gluetable.Table{},
		Analyses: analyses, DatabaseName: props.DatabaseName}
	for _, k := range record.Kinds {
		topic := SinkPrefix + record.Topic(cfg.UserID, k) + "/"
		s.Raw[k] = gluetable.New(stack, "Raw"+kindTitle(k), &gluetable.Props{
			DatabaseName: props.DatabaseName,
			Name:         RawTableName(k),
			Description:  "Raw " + string(k) + " records as the S3 sink wrote them (for exploration; the analysis reads the clean table)",
			Bucket:       props.Sink,
			Prefix:       topic,
			Format:       gluetable.JSON,
			Columns:      RawColumns[k],
			// The sink writes <topic>/partition=<p>/...: Athena projects the topic's partitions
			// instead of listing them (no crawler, no MSCK REPAIR).
			PartitionKeys: []*awsglue.CfnTable_ColumnProperty{col("kafka_partition", "int")},
			Parameters: map[string]string{
				"projection.enabled":               "true",
				"projection.kafka_partition.type":  "integer",
				"projection.kafka_partition.range": fmt.Sprintf("0,%d", cfg.TopicPartitions-1),
				"storage.location.template":        "s3://" + *props.Sink.BucketName() + "/" + topic + "partition=${kafka_partition}/",
			},
		})
		s.Clean[k] = gluetable.New(stack, "Clean"+kindTitle(k), &gluetable.Props{
			DatabaseName: props.DatabaseName,
			Name:         CleanTableName(k),
			Description:  "Clean " + string(k) + " rows written by the batch job (Parquet)",
			Bucket:       props.Results,
			Prefix:       CleanPrefix + string(k) + "/",
			Format:       gluetable.Parquet,
			Columns:      CleanColumns[k],
		})
	}
	s.Workgroup = athena.New(stack, "Athena", &athena.Props{
		Name:          cfg.Name("athena"),
		Results:       props.Results,
		ResultsPrefix: AthenaPrefix,
		Database:      props.DatabaseName,
		Queries:       queries,
	})
	awscdk.NewCfnOutput(stack, jsii.String("AthenaWorkGroup"), &awscdk.CfnOutputProps{Value: s.Workgroup.WorkGroup.Ref()})
	awscdk.NewCfnOutput(stack, jsii.String("GlueDatabase"), &awscdk.CfnOutputProps{Value: jsii.String(props.DatabaseName)})
	return s
}

// StreamingSuffix names the variant of an analysis query that reads the streaming tables.
const StreamingSuffix = "_streaming"

// StreamingViews binds the names the analysis SQL reads (pin, geo, user) to the streaming
// Iceberg tables, one row per ind: a stream may carry a record twice (the emulator re-sends),
// and the analysis contract counts each ind once, as the batch job does.
func StreamingViews(userID string) map[string]string {
	views := map[string]string{}
	for _, k := range record.Kinds {
		cols := make([]string, 0, len(CleanColumns[k]))
		for _, c := range CleanColumns[k] {
			cols = append(cols, `"`+*c.Name+`"`)
		}
		list := strings.Join(cols, ", ")
		views[CleanTableName(k)] = fmt.Sprintf(
			`SELECT %s FROM (SELECT %s, row_number() OVER (PARTITION BY "ind" ORDER BY "ind") AS pinpipe_rn FROM "%s") AS t WHERE pinpipe_rn = 1`,
			list, list, record.StreamTable(userID, k))
	}
	return views
}

// AthenaQueries reads every <name>.sql of dir (the batch job's queries) and returns them by name
// in Athena's dialect (athena.Translate).
func AthenaQueries(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("analysis queries: no .sql file in %s", dir)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("analysis queries: %w", err)
		}
		q, err := athena.Translate(string(b))
		if err != nil {
			return nil, fmt.Errorf("analysis queries: %s: %w", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".sql")] = q
	}
	return out, nil
}
