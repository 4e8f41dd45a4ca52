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
}

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
	}
	var b strings.Builder
	if err := dagTemplate.Execute(&b, d); err != nil {
		return "", fmt.Errorf("batch DAG: %w", err)
	}
	return b.String(), nil
}
