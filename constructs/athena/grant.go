package athena

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// Table is a Glue table that queries read: its database and name in the Data Catalog of the
// workgroup's account and region, and where its data lies.
type Table struct {
	Database, Name string
	Bucket         awss3.IBucket
	// Prefix of the table's location in Bucket, ending with /.
	Prefix string
}

// DataCatalog is the catalog of the account's Glue databases, the one queries run in.
const DataCatalog = "AwsDataCatalog"

// ARN returns the ARN of the workgroup, built from its name in the stack of scope (so that a
// role of another stack can be granted it without a cross-stack reference).
func (w *Workgroup) ARN(scope awscdk.Stack) *string {
	return scope.FormatArn(&awscdk.ArnComponents{Service: jsii.String("athena"), Resource: jsii.String("workgroup"), ResourceName: jsii.String(w.Name)})
}

// QueryStatements are what a principal needs to run read-only queries over tables in this
// workgroup, follow them to the end, stop them, and read their result files — and nothing
// more. Athena runs a query with its caller's permissions: it reads the tables' definitions from
// Glue and their data from S3, and writes the result file under the workgroup's results prefix,
// so the caller needs those too (Athena User Guide, Identity and access management: access to
// the data, to the Data Catalog and to the query result location). Statements are built in the
// stack of scope.
func (w *Workgroup) QueryStatements(scope awscdk.Stack, tables []Table) []awsiam.PolicyStatement {
	if len(tables) == 0 {
		panic("athena.Workgroup.QueryStatements: at least one table")
	}
	arn := func(service, resource, name string) *string {
		return scope.FormatArn(&awscdk.ArnComponents{Service: jsii.String(service), Resource: jsii.String(resource), ResourceName: jsii.String(name)})
	}
	st := func(actions []string, resources []*string) awsiam.PolicyStatement {
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: &resources})
	}
	out := []awsiam.PolicyStatement{
		st([]string{"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"}, []*string{w.ARN(scope)}),
		st([]string{"athena:GetDataCatalog"}, []*string{arn("athena", "datacatalog", DataCatalog)}),
	}
	// The Data Catalog: the catalog, each database and each table read, for reading only.
	glue := []*string{scope.FormatArn(&awscdk.ArnComponents{Service: jsii.String("glue"), Resource: jsii.String("catalog"),
		ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME})}
	dbs := map[string]bool{}
	for _, t := range tables {
		if t.Database == "" || t.Name == "" || t.Bucket == nil || !strings.HasSuffix(t.Prefix, "/") {
			panic(fmt.Sprintf("athena.Table %q: Database, Name, Bucket and a Prefix ending with / are required", t.Name))
		}
		if !dbs[t.Database] {
			dbs[t.Database] = true
			glue = append(glue, arn("glue", "database", t.Database))
		}
	}
	for _, t := range tables {
		glue = append(glue, arn("glue", "table", t.Database+"/"+t.Name))
	}
	out = append(out, st([]string{"glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"}, glue))

	// S3: read the tables' data; write (and read back) the result files. Listing is allowed only
	// under those prefixes.
	type access struct {
		bucket awss3.IBucket
		read   []string
	}
	byBucket := map[string]*access{}
	var order []string
	add := func(b awss3.IBucket, prefix string) {
		k := *b.Node().Path()
		if byBucket[k] == nil {
			byBucket[k] = &access{bucket: b}
			order = append(order, k)
		}
		byBucket[k].read = append(byBucket[k].read, prefix)
	}
	for _, t := range tables {
		add(t.Bucket, t.Prefix)
	}
	add(w.Results, w.ResultsPrefix)
	sort.Strings(order)
	var objects []*string
	for _, k := range order {
		a := byBucket[k]
		var listed []*string
		for _, p := range a.read {
			objects = append(objects, a.bucket.ArnForObjects(jsii.String(p+"*")))
			listed = append(listed, jsii.String(p+"*"))
		}
		out = append(out,
			st([]string{"s3:GetBucketLocation"}, []*string{a.bucket.BucketArn()}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("s3:ListBucket"), Resources: &[]*string{a.bucket.BucketArn()},
				Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": &listed}},
			}))
	}
	out = append(out,
		st([]string{"s3:GetObject"}, objects),
		st([]string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
			[]*string{w.Results.ArnForObjects(jsii.String(w.ResultsPrefix + "*"))}))
	return out
}
