package stacks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/pinpipe/pinpipe/constructs/athena"
	"github.com/pinpipe/pinpipe/constructs/gluetable"
	"github.com/pinpipe/pinpipe/constructs/golambda"
)

// AnalysisSQLDir holds the analysis queries the batch job runs, one <name>.sql per output.
const AnalysisSQLDir = "analytics/sql"

// CleanPrefix is where the batch job writes the clean tables, one folder of Parquet files per
// kind (<CleanPrefix><kind>/); the named queries run over them.
const CleanPrefix = BatchPrefix + "clean/"

// QueryStackProps configures the query stack.
type QueryStackProps struct {
	awscdk.StackProps
	UserID string
	// DatabaseName is the Glue database (made by the streaming stack) the tables go in.
	DatabaseName string
	// Sink holds the raw records under SinkPrefix; Results the clean tables under CleanPrefix
	// and Athena's results under athena/.
	Sink    awss3.IBucket
	Results awss3.IBucket
	// BytesScannedCutoff per query, in bytes. Default 10 GiB.
	BytesScannedCutoff float64
	// ModuleRoot holds go.mod (and analytics/sql). Default: found from the working directory.
	ModuleRoot string
}

// QueryStack makes the pipeline's data queryable with Athena.
type QueryStack struct {
	awscdk.Stack
	Workgroup *athena.Workgroup
	Raw       map[string]*gluetable.Table
	Clean     map[string]*gluetable.Table
}

// RawTableName and CleanTableName name the Glue tables of a kind. The clean tables carry the
// names the analysis SQL uses (pin, geo, user), so the queries run unchanged.
func RawTableName(kind string) string   { return "raw_" + kind }
func CleanTableName(kind string) string { return kind }

// NewQueryStack declares the raw and clean tables, the workgroup and the named queries.
func NewQueryStack(scope constructs.Construct, id string, props *QueryStackProps) *QueryStack {
	if props == nil || props.UserID == "" || props.DatabaseName == "" || props.Sink == nil || props.Results == nil {
		panic("stacks.QueryStackProps: UserID, DatabaseName, Sink and Results are required")
	}
	root := props.ModuleRoot
	if root == "" {
		var err error
		if root, err = golambda.FindModuleRoot(); err != nil {
			panic("stacks.QueryStackProps.ModuleRoot: " + err.Error())
		}
	}
	queries, err := AthenaQueries(filepath.Join(root, AnalysisSQLDir))
	if err != nil {
		panic(err.Error())
	}
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	s := &QueryStack{Stack: stack, Raw: map[string]*gluetable.Table{}, Clean: map[string]*gluetable.Table{}}
	for _, k := range Kinds {
		s.Raw[k] = gluetable.New(stack, "Raw"+k, &gluetable.Props{
			DatabaseName: props.DatabaseName,
			Name:         RawTableName(k),
			Description:  "Raw " + k + " records as the S3 sink wrote them (for exploration; the analysis uses the clean table)",
			Bucket:       props.Sink,
			Prefix:       SinkPrefix + props.UserID + "." + k + "/",
			Format:       gluetable.JSON,
			Columns:      RawColumns[k],
		})
		s.Clean[k] = gluetable.New(stack, "Clean"+k, &gluetable.Props{
			DatabaseName: props.DatabaseName,
			Name:         CleanTableName(k),
			Description:  "Clean " + k + " rows written by the batch job (Parquet)",
			Bucket:       props.Results,
			Prefix:       CleanPrefix + k + "/",
			Format:       gluetable.Parquet,
			Columns:      CleanColumns[k],
		})
	}
	s.Workgroup = athena.New(stack, "Athena", &athena.Props{
		Name:               "pinpipe-" + props.UserID,
		Results:            props.Results,
		ResultsPrefix:      "athena/",
		BytesScannedCutoff: props.BytesScannedCutoff,
		Database:           props.DatabaseName,
		Queries:            queries,
	})
	return s
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
