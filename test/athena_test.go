package test

// The analyses in Athena (analysisEngine athena), offline: the Step Functions state machine of the
// eventbridge scheduler and the DAG of the mwaa scheduler are read back from the synthesized
// templates and checked against the stack's own values; the SQL each one sends to Athena must be
// the saved query of the same name, byte for byte; the state machine's JSONata expressions are
// evaluated with the JSONata engine Step Functions implements, and the DAG's templated arguments
// are rendered with Jinja as Airflow renders them.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/constructs/batchflow"
	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/stacks"
)

var (
	athenaMWAA        = map[string]interface{}{"analysisEngine": "athena"}
	athenaEventBridge = map[string]interface{}{"analysisEngine": "athena", "scheduler": "eventbridge"}
)

// cfnText renders a CloudFormation value as text: strings as they are, Fn::Join joined, other
// intrinsics named by cfnString ("Ref:X", "GetAtt:X.Y", "Import:N").
func cfnText(t *testing.T, v interface{}) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	m, ok := v.(map[string]interface{})
	require.True(t, ok, "not a CloudFormation value: %v", v)
	if j, ok := m["Fn::Join"].([]interface{}); ok {
		var parts []string
		for _, p := range j[1].([]interface{}) {
			parts = append(parts, cfnText(t, p))
		}
		return strings.Join(parts, j[0].(string))
	}
	return cfnString(t, v)
}

// savedQuery is an analysis query as the query stack saves it (AWS::Athena::NamedQuery).
type savedQuery struct {
	SQL, Database, WorkGroup string
}

// athenaSetup is what the query stack declares for the analyses: the saved queries of the eight
// outputs (not their _streaming variants), the workgroup's name and result location.
type athenaSetup struct {
	Queries                   map[string]savedQuery
	WorkGroup, OutputLocation string
}

func readAthenaSetup(t *testing.T, s *Synthesis) athenaSetup {
	t.Helper()
	query := s.TemplateJSON(t, s.Pipeline.Query.Stack)
	wgID := onlyResource(t, query, "AWS::Athena::WorkGroup", nil)
	wg := Props(Resources(query, "AWS::Athena::WorkGroup")[wgID])
	a := athenaSetup{Queries: map[string]savedQuery{}, WorkGroup: wg["Name"].(string)}
	cfg := wg["WorkGroupConfiguration"].(map[string]interface{})
	a.OutputLocation = cfnText(t, cfg["ResultConfiguration"].(map[string]interface{})["OutputLocation"])
	assert.Equal(t, true, cfg["EnforceWorkGroupConfiguration"], "queries cannot move their results elsewhere")
	for _, r := range Resources(query, "AWS::Athena::NamedQuery") {
		p := Props(r)
		name := p["Name"].(string)
		if strings.HasSuffix(name, stacks.StreamingSuffix) {
			continue
		}
		require.Equal(t, map[string]interface{}{"Ref": wgID}, p["WorkGroup"])
		a.Queries[name] = savedQuery{SQL: p["QueryString"].(string), Database: p["Database"].(string), WorkGroup: a.WorkGroup}
	}
	// The analyses are the batch job's outputs: one per analytics/sql file.
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), stacks.AnalysisSQLDir, "*.sql"))
	require.NoError(t, err)
	var want, got []string
	for _, f := range files {
		want = append(want, strings.TrimSuffix(filepath.Base(f), ".sql"))
	}
	for n := range a.Queries {
		got = append(got, n)
	}
	sort.Strings(got)
	require.Equal(t, want, got, "a saved query per analysis output")
	require.Len(t, got, 8)
	return a
}

// resultsBucketName is the results bucket's name as the batch stack reads it: the storage
// stack's export of its Ref ("Import:<export name>").
func resultsBucketName(t *testing.T, s *Synthesis) string {
	t.Helper()
	storage := s.TemplateJSON(t, s.Pipeline.Storage.Stack)
	id := onlyResource(t, storage, "AWS::S3::Bucket", func(p map[string]interface{}) bool {
		return strings.Contains(toJSON(t, p["BucketName"]), "-results")
	})
	for _, o := range storage["Outputs"].(map[string]interface{}) {
		om := o.(map[string]interface{})
		if v, ok := om["Value"].(map[string]interface{}); ok && v["Ref"] == id {
			return "Import:" + om["Export"].(map[string]interface{})["Name"].(string)
		}
	}
	t.Fatalf("the storage stack exports no Ref of %s", id)
	return ""
}

// stateMachine is the definition of the batch stack's state machine, its intrinsics named.
type stateMachine struct {
	StartAt        string
	QueryLanguage  string
	TimeoutSeconds float64
	States         map[string]map[string]interface{}
}

func readStateMachine(t *testing.T, batch map[string]interface{}) (string, map[string]interface{}, stateMachine) {
	t.Helper()
	id := onlyResource(t, batch, "AWS::StepFunctions::StateMachine", nil)
	p := Props(Resources(batch, "AWS::StepFunctions::StateMachine")[id])
	var sm stateMachine
	text := cfnText(t, p["DefinitionString"])
	require.NoError(t, json.Unmarshal([]byte(text), &sm), "%s", text)
	return id, p, sm
}

// chain follows Next from StartAt to the state that ends.
func (sm stateMachine) chain(t *testing.T) []string {
	var out []string
	for name := sm.StartAt; ; {
		st, ok := sm.States[name]
		require.True(t, ok, "state %q", name)
		require.NotContains(t, out, name, "the states form a chain")
		out = append(out, name)
		if st["End"] == true {
			return out
		}
		name, _ = st["Next"].(string)
		require.NotEmpty(t, name, "state %q neither ends nor goes on", out[len(out)-1])
	}
}

// evalJSONata evaluates Step Functions JSONata expressions with the JSONata engine Step Functions
// implements (test/sfnexpr).
func evalJSONata(t *testing.T, cases []map[string]interface{}) []interface{} {
	t.Helper()
	node := testenv.Need(t, "node")
	testenv.NodeModule(t, "jsonata")
	in, err := json.Marshal(cases)
	require.NoError(t, err)
	cmd := exec.Command(node, filepath.Join(testenv.RepoRoot(), "test", "sfnexpr", "sfnexpr.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	require.NoError(t, err)
	var res []struct {
		Value     interface{}
		Undefined bool
		Error     string
	}
	require.NoError(t, json.Unmarshal(out, &res))
	var values []interface{}
	for i, r := range res {
		require.Empty(t, r.Error, "expression %v", cases[i]["expression"])
		require.False(t, r.Undefined, "expression %v is undefined for %v", cases[i]["expression"], cases[i]["states"])
		values = append(values, r.Value)
	}
	return values
}

// With the eventbridge scheduler and analysisEngine athena, the schedule starts a state machine
// that runs the batch task to completion, then each analysis in the query stack's workgroup and
// database, then copies each result file to batch/<output>.csv; its expressions do what they
// must under the JSONata engine; it logs every event and is traced.
func TestBatchFlow(t *testing.T) {
	s := Synth(t, athenaEventBridge)
	batch := s.TemplateJSON(t, s.Pipeline.Batch.Stack)
	a := readAthenaSetup(t, s)
	smID, props, sm := readStateMachine(t, batch)
	assert.Equal(t, "JSONata", sm.QueryLanguage)
	assert.Equal(t, 12*3600.0, sm.TimeoutSeconds)

	// The schedule starts this state machine daily, with an input that is no rebuild.
	sched := Props(Resources(batch, "AWS::Scheduler::Schedule")[onlyResource(t, batch, "AWS::Scheduler::Schedule", nil)])
	target := sched["Target"].(map[string]interface{})
	assert.Equal(t, map[string]interface{}{"Ref": smID}, target["Arn"])
	assert.Equal(t, stacks.BatchCron, sched["ScheduleExpression"])
	assert.Len(t, Resources(batch, "AWS::ECS::TaskDefinition"), 1)

	// A failed, timed-out or aborted execution (a query that failed, say) reaches the alarm topic.
	mon := s.TemplateJSON(t, s.Pipeline.Monitoring.Stack)
	rule := Props(Resources(mon, "AWS::Events::Rule")[onlyResource(t, mon, "AWS::Events::Rule", func(p map[string]interface{}) bool {
		return toJSON(t, p["EventPattern"].(map[string]interface{})["source"]) == `["aws.states"]`
	})])
	detail := rule["EventPattern"].(map[string]interface{})["detail"].(map[string]interface{})
	assert.Equal(t, []interface{}{"FAILED", "TIMED_OUT", "ABORTED"}, detail["status"])
	require.Len(t, detail["stateMachineArn"], 1)
	assert.Contains(t, cfnText(t, detail["stateMachineArn"].([]interface{})[0]), "Import:Pinpipe-demo-Batch:ExportsOutputRef"+smID)
	topic := onlyResource(t, mon, "AWS::SNS::Topic", nil)
	assert.Equal(t, map[string]interface{}{"Ref": topic}, rule["Targets"].([]interface{})[0].(map[string]interface{})["Arn"])

	// Logged and traced (cdk-nag AwsSolutions-SF1, SF2).
	logs := props["LoggingConfiguration"].(map[string]interface{})
	assert.Equal(t, "ALL", logs["Level"])
	assert.Equal(t, true, props["TracingConfiguration"].(map[string]interface{})["Enabled"])
	assert.Equal(t, "pinpipe-demo-batch", props["StateMachineName"])

	// The states, in order: the task, then per output (sorted) its query and its copy.
	var names []string
	for n := range a.Queries {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Equal(t, batchflow.Names(map[string]string{names[0]: "x", names[1]: "y"}), names[:2], "the flow runs them in name order")
	want := []string{"Run the batch task"}
	for _, n := range names {
		want = append(want, "Query "+n, "Publish "+n)
	}
	require.Equal(t, want, sm.chain(t))
	assert.Len(t, sm.States, len(want), "no state off the chain")

	// The task: the stack's cluster, task definition family, private subnets and security group.
	run := sm.States["Run the batch task"]
	assert.Equal(t, "arn:Ref:AWS::Partition:states:::ecs:runTask.sync", run["Resource"])
	args := run["Arguments"].(map[string]interface{})
	cluster := onlyResource(t, batch, "AWS::ECS::Cluster", nil)
	tdID := onlyResource(t, batch, "AWS::ECS::TaskDefinition", nil)
	td := Props(Resources(batch, "AWS::ECS::TaskDefinition")[tdID])
	assert.Equal(t, "GetAtt:"+cluster+".Arn", args["Cluster"])
	assert.Equal(t, td["Family"], args["TaskDefinition"], "the family: its latest revision runs")
	assert.Equal(t, "FARGATE", args["LaunchType"])
	vpc := args["NetworkConfiguration"].(map[string]interface{})["AwsvpcConfiguration"].(map[string]interface{})
	assert.Len(t, vpc["Subnets"], 2)
	for _, sn := range vpc["Subnets"].([]interface{}) {
		assert.Contains(t, sn, "Import:Pinpipe-demo-Network:ExportsOutputRefVpcprivateSubnet")
	}
	sg := onlyResource(t, batch, "AWS::EC2::SecurityGroup", nil)
	assert.Equal(t, []interface{}{"GetAtt:" + sg + ".GroupId"}, vpc["SecurityGroups"])
	assert.NotEqual(t, "ENABLED", vpc["AssignPublicIp"])
	container := td["ContainerDefinitions"].([]interface{})[0].(map[string]interface{})
	ov := args["Overrides"].(map[string]interface{})["ContainerOverrides"].([]interface{})
	require.Len(t, ov, 1)
	co := ov[0].(map[string]interface{})
	assert.Equal(t, container["Name"], co["Name"])
	env := co["Environment"].([]interface{})
	require.Len(t, env, 1)
	full := env[0].(map[string]interface{})
	assert.Equal(t, stacks.EnvFull, full["Name"])
	// The container runs incrementally; the override makes one execution a rebuild.
	var envNames []string
	for _, e := range container["Environment"].([]interface{}) {
		em := e.(map[string]interface{})
		envNames = append(envNames, em["Name"].(string)+"="+cfnText(t, em["Value"]))
	}
	assert.Contains(t, envNames, stacks.EnvIncremental+"=true")
	assert.Contains(t, envNames, stacks.EnvSkipAnalysis+"=true", "the task only cleans; Athena analyses")

	// The expressions, under the JSONata engine: the rebuild switch for the schedule's input, a
	// rebuild's input and others; the copy's source for the result Athena reports (the recorded
	// shape of a GetQueryExecution response, which a .sync task returns).
	raw, err := os.ReadFile(filepath.Join("testdata", "athena-getqueryexecution.json"))
	require.NoError(t, err)
	var result map[string]interface{}
	const qid = "0f3c5a1e-7d2b-4c8e-9a6f-1b2c3d4e5f60"
	resultFile := a.OutputLocation + qid + ".csv"
	require.NoError(t, json.Unmarshal(bytes.ReplaceAll(raw, []byte("s3://RESULTS-BUCKET/athena/"+qid+".csv"), []byte(resultFile)), &result))
	var scheduleInput interface{}
	require.NoError(t, json.Unmarshal([]byte(target["Input"].(string)), &scheduleInput))
	cases := []map[string]interface{}{
		{"expression": full["Value"], "states": map[string]interface{}{"input": scheduleInput}},
		{"expression": full["Value"], "states": map[string]interface{}{"input": map[string]interface{}{"full": true}}},
		{"expression": full["Value"], "states": map[string]interface{}{"input": map[string]interface{}{"full": false}}},
		{"expression": full["Value"], "states": map[string]interface{}{"input": map[string]interface{}{"full": "yes"}}},
	}
	for _, n := range names {
		cases = append(cases, map[string]interface{}{"expression": sm.States["Publish "+n]["Arguments"].(map[string]interface{})["CopySource"],
			"states": map[string]interface{}{"input": result}})
	}
	values := evalJSONata(t, cases)
	assert.Equal(t, []interface{}{"false", "true", "false", "false"}, values[:4], "PINPIPE_FULL for the schedule's input, {full:true}, {full:false}, {full:\"yes\"}")

	resultsBucket := resultsBucketName(t, s)
	for i, n := range names {
		q := sm.States["Query "+n]
		assert.Equal(t, "arn:Ref:AWS::Partition:states:::athena:startQueryExecution.sync", q["Resource"], n)
		qa := q["Arguments"].(map[string]interface{})
		assert.Equal(t, map[string]interface{}{"Catalog": "AwsDataCatalog", "Database": a.Queries[n].Database}, qa["QueryExecutionContext"], n)
		assert.Equal(t, a.WorkGroup, qa["WorkGroup"], n)
		assert.Equal(t, 1800.0, q["TimeoutSeconds"], n)

		p := sm.States["Publish "+n]
		assert.Equal(t, "arn:Ref:AWS::Partition:states:::aws-sdk:s3:copyObject", p["Resource"], n)
		pa := p["Arguments"].(map[string]interface{})
		assert.Equal(t, resultsBucket, pa["Bucket"], n)
		assert.Equal(t, "batch/"+n+".csv", pa["Key"], n)
		assert.Equal(t, stacks.ResultKey(n), pa["Key"], n)
		assert.Equal(t, strings.TrimPrefix(resultFile, "s3://"), values[4+i], "%s: the copy's source is the result file Athena reports", n)
	}
}

// With the mwaa scheduler and analysisEngine athena, the DAG runs the task, then for each output
// an Athena query (the Amazon provider's AthenaOperator, in the query stack's workgroup and
// database, results where the workgroup puts them) and a copy of its result file to
// batch/<output>.csv; its templated arguments render as they must (Jinja, as Airflow).
func TestBatchDagAthena(t *testing.T) {
	s := Synth(t, athenaMWAA)
	a := readAthenaSetup(t, s)
	resultsBucket := resultsBucketName(t, s)
	path, _ := uploadedDag(t, s)
	dags := describeDag(t, path, `{"full": true}`)
	require.Len(t, dags, 1)
	d := dags[0]
	assert.Equal(t, 4.0, d.Kwargs["max_active_tasks"], "a few queries at a time")
	tasks := map[string]dagTask{}
	for _, tk := range d.Tasks {
		tasks[tk.Kwargs["task_id"].(string)] = tk
	}
	require.Len(t, tasks, 1+2*len(a.Queries), "the task, and a query and a copy per output")
	analyse := tasks["analyse"]
	assert.Empty(t, analyse.Upstream)
	env := analyse.Rendered["overrides"].(map[string]interface{})["containerOverrides"].([]interface{})[0].(map[string]interface{})["environment"].([]interface{})
	assert.Equal(t, []interface{}{map[string]interface{}{"name": stacks.EnvFull, "value": "true"}}, env, "a run with conf {full: true} rebuilds")

	for n, q := range a.Queries {
		query, publish := tasks["query_"+n], tasks["publish_"+n]
		assert.Contains(t, query.Bases, "AthenaOperator", n)
		assert.Equal(t, []string{"analyse"}, query.Upstream, "%s: after the task", n)
		assert.Equal(t, q.Database, query.Kwargs["database"], n)
		assert.Equal(t, q.WorkGroup, query.Kwargs["workgroup"], n)
		assert.Equal(t, a.OutputLocation, query.Kwargs["output_location"], n)
		assert.Contains(t, publish.Bases, "S3CopyObjectOperator", n)
		assert.Equal(t, []string{"query_" + n}, publish.Upstream, "%s: the copy after its query", n)
		// Rendered as Airflow renders them: the result file of this query's execution (its
		// XCom), copied to the output's key in the results bucket.
		assert.Equal(t, a.OutputLocation+"<xcom:query_"+n+">.csv", publish.Rendered["source_bucket_key"], n)
		assert.Equal(t, "s3://"+resultsBucket+"/batch/"+n+".csv", publish.Rendered["dest_bucket_key"], n)
	}

	// Without a conf, or with another, the task runs incrementally.
	for _, conf := range []string{"null", "{}", `{"full": false}`} {
		d := describeDag(t, path, conf)[0]
		for _, tk := range d.Tasks {
			if tk.Kwargs["task_id"] == "analyse" {
				env := tk.Rendered["overrides"].(map[string]interface{})["containerOverrides"].([]interface{})[0].(map[string]interface{})["environment"].([]interface{})
				assert.Equal(t, "false", env[0].(map[string]interface{})["value"], "conf %s", conf)
			}
		}
	}
}

// The SQL each Athena run sends is the saved query of the same name, byte for byte, for each
// output and both schedulers: the state machine's QueryString, and the DAG's query argument,
// which Airflow sends as it is (the operator does not template it).
func TestAthenaRunsSavedQueries(t *testing.T) {
	for _, sc := range athenaSchedulers {
		s := Synth(t, sc.ctx)
		a := readAthenaSetup(t, s)
		sent := map[string]string{}
		if s.Config.Scheduler == stacks.SchedulerEventBridge {
			_, _, sm := readStateMachine(t, s.TemplateJSON(t, s.Pipeline.Batch.Stack))
			for name, st := range sm.States {
				if n, ok := strings.CutPrefix(name, "Query "); ok {
					sent[n] = st["Arguments"].(map[string]interface{})["QueryString"].(string)
				}
			}
		} else {
			path, _ := uploadedDag(t, s)
			for _, tk := range describeDag(t, path, "null")[0].Tasks {
				n, ok := strings.CutPrefix(tk.Kwargs["task_id"].(string), "query_")
				if !ok {
					continue
				}
				assert.NotContains(t, tk.TemplateFields, "query", "Airflow would render the SQL as a Jinja template")
				assert.NotContains(t, tk.Rendered, "query")
				assert.Empty(t, tk.TemplateExt, "Airflow would read a query ending in .sql as a file")
				sent[n] = tk.Kwargs["query"].(string)
			}
		}
		require.Len(t, sent, len(a.Queries), sc.name)
		var names []string
		for n := range a.Queries {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			q := a.Queries[n]
			t.Run(sc.name+"/"+n, func(t *testing.T) {
				got, ok := sent[n]
				require.True(t, ok, "no Athena run of %s", n)
				assert.Equal(t, q.SQL, got)
			})
		}
	}
}

// FullRebuildCommand, in every configuration, makes one run a full rebuild: the ECS override sets
// PINPIPE_FULL=true in the task's container (analysisEngine duckdb); with athena, the scheduler's
// own run gets the switch its rebuild expression reads (the execution input, the DAG run's conf).
func TestFullRebuildCommands(t *testing.T) {
	quoted := func(t *testing.T, cmd, flag string) map[string]interface{} {
		_, rest, ok := strings.Cut(cmd, flag+" '")
		require.True(t, ok, "%s has %s '…'", cmd, flag)
		arg, _, ok := strings.Cut(rest, "'")
		require.True(t, ok)
		var v map[string]interface{}
		require.NoError(t, json.Unmarshal([]byte(arg), &v), "%s %s", flag, arg)
		return v
	}
	for _, sc := range append(schedulers[:len(schedulers):len(schedulers)], athenaSchedulers...) {
		t.Run(sc.name, func(t *testing.T) {
			s := Synth(t, sc.ctx)
			batch := s.TemplateJSON(t, s.Pipeline.Batch.Stack)
			outputs := batch["Outputs"].(map[string]interface{})
			cmd := cfnText(t, outputs["FullRebuildCommand"].(map[string]interface{})["Value"])
			switch {
			case s.Config.AnalysisEngine == stacks.EngineDuckDB:
				run := cfnText(t, outputs["RunTaskCommand"].(map[string]interface{})["Value"])
				require.True(t, strings.HasPrefix(cmd, run+" --overrides "), "the run-task command, with overrides: %s", cmd)
				td := Props(Resources(batch, "AWS::ECS::TaskDefinition")[onlyResource(t, batch, "AWS::ECS::TaskDefinition", nil)])
				container := td["ContainerDefinitions"].([]interface{})[0].(map[string]interface{})["Name"]
				assert.Equal(t, map[string]interface{}{"containerOverrides": []interface{}{map[string]interface{}{
					"name": container, "environment": []interface{}{map[string]interface{}{"name": stacks.EnvFull, "value": "true"}},
				}}}, quoted(t, cmd, "--overrides"))
			case s.Config.Scheduler == stacks.SchedulerEventBridge:
				smID, _, sm := readStateMachine(t, batch)
				assert.True(t, strings.HasPrefix(cmd, "aws stepfunctions start-execution --state-machine-arn Ref:"+smID+" "), cmd)
				expr := sm.States["Run the batch task"]["Arguments"].(map[string]interface{})["Overrides"].(map[string]interface{})["ContainerOverrides"].([]interface{})[0].(map[string]interface{})["Environment"].([]interface{})[0].(map[string]interface{})["Value"]
				assert.Equal(t, []interface{}{"true"}, evalJSONata(t, []map[string]interface{}{{"expression": expr,
					"states": map[string]interface{}{"input": quoted(t, cmd, "--input")}}}))
			default:
				assert.Contains(t, cmd, "aws mwaa invoke-rest-api --name ")
				body := quoted(t, cmd, "--body")
				conf, err := json.Marshal(body["conf"])
				require.NoError(t, err)
				path, _ := uploadedDag(t, s)
				for _, tk := range describeDag(t, path, string(conf))[0].Tasks {
					if tk.Kwargs["task_id"] == "analyse" {
						env := tk.Rendered["overrides"].(map[string]interface{})["containerOverrides"].([]interface{})[0].(map[string]interface{})["environment"]
						assert.Equal(t, []interface{}{map[string]interface{}{"name": stacks.EnvFull, "value": "true"}}, env)
					}
				}
			}
		})
	}
}
