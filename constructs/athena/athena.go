// Package athena is the L3 construct for querying the pipeline's tables with SQL: an Athena
// workgroup whose results are encrypted, kept under one prefix of a bucket, and cut off after a
// number of bytes scanned per query (so a mistaken query cannot cost much), with the analysis
// queries saved in it as named queries.
package athena

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures a Workgroup. Name, Results, ResultsPrefix and Database are required.
type Props struct {
	// Name of the workgroup.
	Name string
	// Results and ResultsPrefix: where query results go (SSE-S3 encrypted).
	Results       awss3.IBucket
	ResultsPrefix string
	// BytesScannedCutoff per query. Default 10 GiB (5 US cents at $5/TB). At least 10 MiB.
	BytesScannedCutoff float64
	// Database is the Glue database the named queries run in.
	Database string
	// Queries maps a query's name to its SQL, in Athena's dialect (see Translate).
	Queries map[string]string
}

// Workgroup is the workgroup and its named queries (by name).
type Workgroup struct {
	constructs.Construct
	WorkGroup awsathena.CfnWorkGroup
	Queries   map[string]awsathena.CfnNamedQuery
	// Name of the workgroup (Props.Name), for references that must not tie another stack to
	// this one.
	Name string
	// Results and ResultsPrefix are where Athena writes each query's result file,
	// <OutputLocation><QueryExecutionId>.csv (queries run through the API are not filed under
	// dated folders); OutputLocation is s3://<bucket>/<ResultsPrefix>.
	Results        awss3.IBucket
	ResultsPrefix  string
	OutputLocation *string
}

var (
	wgName    = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`)
	queryName = regexp.MustCompile(`^[a-zA-Z0-9_]{1,128}$`)
)

func validate(p *Props) error {
	switch {
	case !wgName.MatchString(p.Name):
		return fmt.Errorf("athena.Props.Name: %q must be 1-128 letters, digits, '.', '-' or '_'", p.Name)
	case p.Results == nil:
		return fmt.Errorf("athena.Props.Results: required (the bucket for query results)")
	case p.ResultsPrefix == "" || !strings.HasSuffix(p.ResultsPrefix, "/") || strings.HasPrefix(p.ResultsPrefix, "/"):
		return fmt.Errorf("athena.Props.ResultsPrefix: %q must be a key prefix ending with /", p.ResultsPrefix)
	case p.BytesScannedCutoff != 0 && p.BytesScannedCutoff < 10*1024*1024:
		return fmt.Errorf("athena.Props.BytesScannedCutoff: %v is below Athena's minimum of 10 MiB", p.BytesScannedCutoff)
	case p.Database == "":
		return fmt.Errorf("athena.Props.Database: required")
	}
	for name, q := range p.Queries {
		if !queryName.MatchString(name) {
			return fmt.Errorf("athena.Props.Queries: name %q must be letters, digits and _", name)
		}
		if strings.TrimSpace(q) == "" {
			return fmt.Errorf("athena.Props.Queries[%s]: empty SQL", name)
		}
	}
	return nil
}

// New declares the workgroup and the named queries. Invalid props panic with a message naming
// the field, as CDK constructs do at synth time.
func New(scope constructs.Construct, id string, props *Props) *Workgroup {
	if props == nil {
		panic("athena.Props: required")
	}
	if err := validate(props); err != nil {
		panic(err.Error())
	}
	p := *props
	if p.BytesScannedCutoff == 0 {
		p.BytesScannedCutoff = 10 * 1024 * 1024 * 1024
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	w := &Workgroup{Construct: c, Queries: map[string]awsathena.CfnNamedQuery{}, Name: p.Name,
		Results: p.Results, ResultsPrefix: p.ResultsPrefix,
		OutputLocation: jsii.String("s3://" + *p.Results.BucketName() + "/" + p.ResultsPrefix)}
	w.WorkGroup = awsathena.NewCfnWorkGroup(c, jsii.String("WorkGroup"), &awsathena.CfnWorkGroupProps{
		Name:        jsii.String(p.Name),
		Description: jsii.String("Pipeline queries; results encrypted, scans capped"),
		// Lets `cdk destroy` remove the workgroup together with its saved queries and history.
		RecursiveDeleteOption: jsii.Bool(true),
		WorkGroupConfiguration: &awsathena.CfnWorkGroup_WorkGroupConfigurationProperty{
			EnforceWorkGroupConfiguration:   jsii.Bool(true),
			PublishCloudWatchMetricsEnabled: jsii.Bool(true),
			BytesScannedCutoffPerQuery:      jsii.Number(p.BytesScannedCutoff),
			EngineVersion: &awsathena.CfnWorkGroup_EngineVersionProperty{
				SelectedEngineVersion: jsii.String("Athena engine version 3"),
			},
			ResultConfiguration: &awsathena.CfnWorkGroup_ResultConfigurationProperty{
				OutputLocation: w.OutputLocation,
				EncryptionConfiguration: &awsathena.CfnWorkGroup_EncryptionConfigurationProperty{
					EncryptionOption: jsii.String("SSE_S3"),
				},
			},
		},
	})
	names := make([]string, 0, len(p.Queries))
	for n := range p.Queries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		q := awsathena.NewCfnNamedQuery(c, jsii.String("Query_"+n), &awsathena.CfnNamedQueryProps{
			Name:        jsii.String(n),
			Database:    jsii.String(p.Database),
			QueryString: jsii.String(p.Queries[n]),
			WorkGroup:   w.WorkGroup.Ref(),
			Description: jsii.String("Analysis query " + n + " (from analytics/sql, Athena dialect)"),
		})
		w.Queries[n] = q
	}
	return w
}
