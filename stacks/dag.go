package stacks

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

//go:embed dags/batch_dag.py.tmpl
var batchDagTemplate string

// BatchDag holds the values the batch DAG is rendered with. In the stack they are the stack's
// own values (deploy-time tokens the DAG upload resolves); tests render it with plain strings.
type BatchDag struct {
	DagID             string
	Schedule          string
	Cluster           string
	TaskDefinition    string
	Subnets           []string
	SecurityGroups    []string
	LogGroup          string
	Region            string
	LogStreamPrefix   string
	Retries           int
	RetryDelayMinutes int
	// Container is the task's container name and FullVariable the environment variable a DAG run
	// whose conf holds "full": true sets to "true" in it (a full rebuild).
	Container, FullVariable string
	// Athena, when set, runs the analyses in Athena after the task (analysisEngine athena).
	Athena *DagAthena
}

// DagAthena is what the DAG's Athena tasks need.
type DagAthena struct {
	// Workgroup and Database the queries run in; OutputLocation is the workgroup's result
	// location (s3://bucket/prefix/), where each query's result is <QueryExecutionId>.csv.
	Workgroup, Database, OutputLocation string
	// Bucket the results are published to, each query's at its Key.
	Bucket  string
	Queries []DagQuery
}

// DagQuery is one analysis: its output name, its SQL in Athena's dialect and the key its result
// is published at.
type DagQuery struct {
	Output, SQL, Key string
}

// The Jinja templates the DAG passes to templated operator fields: the task's rebuild switch
// from the DAG run's conf, and a query's result file from the query task's XCom (its query
// execution id; the task id is in the copy task's params).
const (
	dagFullTemplate   = "{{ 'true' if (dag_run.conf or {}).get('full') else 'false' }}"
	dagResultTemplate = "{{ ti.xcom_pull(task_ids=params.query_task) }}.csv"
)

// jinjaMarks are what Jinja would read as template syntax in a templated field.
var jinjaMarks = []string{"{{", "{%", "{#"}

var dagTemplate = template.Must(template.New("batch_dag.py").Option("missingkey=error").Funcs(template.FuncMap{
	// py writes a string or a list of strings as a Python literal (a JSON string is one).
	"py": func(v any) (string, error) {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	},
}).Parse(batchDagTemplate))

// dagView is what the template renders: the DAG's values and the Jinja templates it passes on.
type dagView struct {
	BatchDag
	FullTemplate, ResultTemplate string
}

// DagID is the id of the batch DAG of userID, "<userId>_dag" (Airflow DAG ids may hold '-').
func DagID(userID string) string { return userID + "_dag" }

// DagFileName is the file the batch DAG of userID is uploaded as, "pinpipe_<userId>_dag.py" with
// each '-' as '_': Airflow imports a DAG file as a Python module, and a module name may hold no
// '-' and not start with a digit, as a user id may.
func DagFileName(userID string) string { return "pinpipe_" + glueID(userID) + "_dag.py" }

// Render returns the DAG file's Python source.
func (d BatchDag) Render() (string, error) {
	switch {
	case d.DagID == "" || d.Cluster == "" || d.TaskDefinition == "":
		return "", fmt.Errorf("batch DAG: DagID, Cluster and TaskDefinition are required")
	case len(d.Subnets) == 0 || len(d.SecurityGroups) == 0:
		return "", fmt.Errorf("batch DAG: Subnets and SecurityGroups are required")
	case d.Retries < 0 || d.RetryDelayMinutes < 1:
		return "", fmt.Errorf("batch DAG: Retries %d must be >= 0 and RetryDelayMinutes %d >= 1", d.Retries, d.RetryDelayMinutes)
	case d.Container == "" || d.FullVariable == "":
		return "", fmt.Errorf("batch DAG: Container and FullVariable are required")
	}
	if a := d.Athena; a != nil {
		if a.Workgroup == "" || a.Database == "" || a.Bucket == "" || !strings.HasPrefix(a.OutputLocation, "s3://") || !strings.HasSuffix(a.OutputLocation, "/") {
			return "", fmt.Errorf("batch DAG: Athena needs Workgroup, Database, Bucket and an s3://…/ OutputLocation")
		}
		if len(a.Queries) == 0 {
			return "", fmt.Errorf("batch DAG: Athena.Queries: at least one query")
		}
		for _, q := range a.Queries {
			if q.Output == "" || strings.TrimSpace(q.SQL) == "" || q.Key == "" {
				return "", fmt.Errorf("batch DAG: Athena query %q: Output, SQL and Key are required", q.Output)
			}
			// The DAG's query operator does not render its SQL, but the copy's keys are
			// templated fields.
			for _, m := range jinjaMarks {
				if strings.Contains(q.Key, m) {
					return "", fmt.Errorf("batch DAG: Athena query %s: key %q holds Jinja syntax %s", q.Output, q.Key, m)
				}
			}
		}
	}
	var b strings.Builder
	if err := dagTemplate.Execute(&b, dagView{BatchDag: d, FullTemplate: dagFullTemplate, ResultTemplate: dagResultTemplate}); err != nil {
		return "", fmt.Errorf("batch DAG: %w", err)
	}
	return b.String(), nil
}
