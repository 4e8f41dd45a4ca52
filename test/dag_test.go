package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/stacks"
)

// cfnString names a CloudFormation expression as a plain string ("Ref:X", "GetAtt:X.Y",
// "Import:N"), to stand in for a deploy-time value in the rendered DAG.
func cfnString(t *testing.T, v interface{}) string {
	t.Helper()
	m, ok := v.(map[string]interface{})
	require.True(t, ok, "not an intrinsic: %v", v)
	switch {
	case m["Ref"] != nil:
		return "Ref:" + m["Ref"].(string)
	case m["Fn::GetAtt"] != nil:
		a := m["Fn::GetAtt"].([]interface{})
		return "GetAtt:" + a[0].(string) + "." + a[1].(string)
	case m["Fn::ImportValue"] != nil:
		return "Import:" + m["Fn::ImportValue"].(string)
	}
	t.Fatalf("unexpected intrinsic %v", v)
	return ""
}

// onlyResource returns the logical id of the one resource of typ in tmpl whose properties
// satisfy match.
func onlyResource(t *testing.T, tmpl map[string]interface{}, typ string, match func(map[string]interface{}) bool) string {
	t.Helper()
	var ids []string
	for id, r := range Resources(tmpl, typ) {
		if match == nil || match(Props(r)) {
			ids = append(ids, id)
		}
	}
	require.Len(t, ids, 1, "resources of type %s", typ)
	return ids[0]
}

// The DAG uploaded to MWAA, with its deploy-time values standing in as named expressions,
// compiles and, imported under stub airflow modules, declares exactly the expected DAG and task
// with the stack's own cluster, task definition, subnets, security group and log group; its
// file name is a Python module name, which Python itself confirms. Also for a userId with a
// hyphen (issue 9, finding 3: userId=team-a failed to synthesize in mwaa mode).
func TestBatchDag(t *testing.T) {
	for _, ctx := range []map[string]interface{}{nil, {"userId": "team-a"}} {
		name := "demo"
		if ctx != nil {
			name = ctx["userId"].(string)
		}
		t.Run(name, func(t *testing.T) { testBatchDag(t, ctx) })
	}
}

// uploadedDag is the DAG file the batch stack of s uploads to MWAA: the deployment's source asset
// with its deploy-time markers replaced by named expressions (cfnString), written to a
// temporary directory under its own name. Its file name is a Python module name, which Python
// itself confirms.
func uploadedDag(t *testing.T, s *Synthesis) (path, depID string) {
	python := testenv.Need(t, "python3")
	batch := s.TemplateJSON(t, s.Pipeline.Batch.Stack)
	depID = onlyResource(t, batch, "Custom::CDKBucketDeployment", nil)
	dep := Props(Resources(batch, "Custom::CDKBucketDeployment")[depID])
	assert.Equal(t, "dags/", dep["DestinationBucketKeyPrefix"])
	keys := dep["SourceObjectKeys"].([]interface{})
	require.Len(t, keys, 1)
	assetDir := filepath.Join(s.Dir, "asset."+strings.TrimSuffix(keys[0].(string), ".zip"))
	files, err := filepath.Glob(filepath.Join(assetDir, "*"))
	require.NoError(t, err)
	require.Len(t, files, 1, "the deployment uploads one DAG file")
	dagFile := filepath.Base(files[0])
	module, isPy := strings.CutSuffix(dagFile, ".py")
	require.True(t, isPy, "%s is a .py file", dagFile)
	// Airflow imports the file as a module: Python says whether its name can be one.
	out, err := exec.Command(python, "-c", "import keyword,sys; n=sys.argv[1]; sys.exit(0 if n.isidentifier() and not keyword.iskeyword(n) else 1)", module).CombinedOutput()
	require.NoError(t, err, "%s is not a Python module name: %s", dagFile, out)
	raw, err := os.ReadFile(files[0])
	require.NoError(t, err)
	src := string(raw)
	for _, markers := range dep["SourceMarkers"].([]interface{}) {
		for marker, expr := range markers.(map[string]interface{}) {
			src = strings.ReplaceAll(src, marker, cfnString(t, expr))
		}
	}
	require.NotContains(t, src, "<<marker:", "every deploy-time value is resolved by the deployment")
	path = filepath.Join(t.TempDir(), dagFile)
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	if out, err := exec.Command(python, "-m", "py_compile", path).CombinedOutput(); err != nil {
		t.Fatalf("the DAG does not compile: %v\n%s", err, out)
	}
	return path, depID
}

// dagTask is one task as testdata/airflowstub/describe_dag.py reports it.
type dagTask struct {
	Type           string
	Bases          []string
	Kwargs         map[string]interface{}
	Upstream       []string
	TemplateFields []string `json:"template_fields"`
	TemplateExt    []string `json:"template_ext"`
	// Rendered are the templated arguments as Airflow renders them (with a conf only).
	Rendered map[string]interface{}
}

type dagDesc struct {
	Kwargs map[string]interface{}
	Tasks  []dagTask
}

// describeDag imports the DAG file under the stub airflow package and returns what it declares;
// with conf (a DAG run's conf as JSON, "null" for none) the templated arguments are rendered too,
// with Jinja, as Airflow renders them.
func describeDag(t *testing.T, path string, conf ...string) []dagDesc {
	t.Helper()
	python := testenv.Need(t, "python3")
	args := []string{filepath.Join("testdata", "airflowstub", "describe_dag.py"), path}
	if len(conf) > 0 {
		if out, err := exec.Command(python, "-c", "import jinja2.sandbox").CombinedOutput(); err != nil {
			testenv.Missing(t, "Jinja for python3 (python3-jinja2, make setup): "+string(out))
		}
		args = append(args, conf[0])
	}
	out, err := exec.Command(python, args...).Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "importing the DAG under stub airflow: %s", stderr)
	var dags []dagDesc
	require.NoError(t, json.Unmarshal(out, &dags), "%s", out)
	return dags
}

func testBatchDag(t *testing.T, ctx map[string]interface{}) {
	s := Synth(t, ctx)
	p := s.Pipeline
	batch := s.TemplateJSON(t, p.Batch.Stack)
	path, depID := uploadedDag(t, s)

	// The environment is created after the DAG is in its bucket.
	envID := onlyResource(t, batch, "AWS::MWAA::Environment", nil)
	env := Resources(batch, "AWS::MWAA::Environment")[envID]
	assert.Contains(t, env["DependsOn"], depID)

	// What the DAG must say, read from the templates, not from the code that rendered it.
	cluster := "Ref:" + onlyResource(t, batch, "AWS::ECS::Cluster", nil)
	taskDef := "Ref:" + onlyResource(t, batch, "AWS::ECS::TaskDefinition", nil)
	sg := "GetAtt:" + onlyResource(t, batch, "AWS::EC2::SecurityGroup", func(p map[string]interface{}) bool {
		return strings.HasPrefix(p["GroupDescription"].(string), "Batch task")
	}) + ".GroupId"
	td := Props(Resources(batch, "AWS::ECS::TaskDefinition")[strings.TrimPrefix(taskDef, "Ref:")])
	container := td["ContainerDefinitions"].([]interface{})[0].(map[string]interface{})
	logOpts := container["LogConfiguration"].(map[string]interface{})["Options"].(map[string]interface{})
	logGroup := cfnString(t, logOpts["awslogs-group"])
	streamPrefix := logOpts["awslogs-stream-prefix"].(string) + "/" + container["Name"].(string)
	// The task's subnets are the VPC's private subnets, one per AZ, as exported by the network stack.
	network := s.TemplateJSON(t, p.Network.Stack)
	var subnets []string
	for id, r := range Resources(network, "AWS::EC2::Subnet") {
		private := false
		for _, tag := range Props(r)["Tags"].([]interface{}) {
			tg := tag.(map[string]interface{})
			private = private || tg["Key"] == "aws-cdk:subnet-type" && tg["Value"] == "Private"
		}
		if !private {
			continue
		}
		for _, o := range network["Outputs"].(map[string]interface{}) {
			out := o.(map[string]interface{})
			if v, ok := out["Value"].(map[string]interface{}); ok && v["Ref"] == id {
				subnets = append(subnets, "Import:"+out["Export"].(map[string]interface{})["Name"].(string))
			}
		}
	}
	require.Len(t, subnets, 2)
	sort.Strings(subnets)

	dags := describeDag(t, path)
	require.Len(t, dags, 1, "exactly one DAG")
	d := dags[0]
	assert.Equal(t, s.Config.UserID+"_dag", d.Kwargs["dag_id"])
	assert.Equal(t, "0 2 * * *", d.Kwargs["schedule"], "daily")
	assert.Equal(t, false, d.Kwargs["catchup"])
	args := d.Kwargs["default_args"].(map[string]interface{})
	assert.Equal(t, 2.0, args["retries"])
	assert.Equal(t, map[string]interface{}{"timedelta_seconds": 600.0}, args["retry_delay"])

	require.Len(t, d.Tasks, 1, "exactly one task")
	task := d.Tasks[0]
	assert.Equal(t, "EcsRunTaskOperator", task.Type)
	k := task.Kwargs
	assert.Equal(t, "analyse", k["task_id"])
	assert.Equal(t, cluster, k["cluster"])
	assert.Equal(t, taskDef, k["task_definition"])
	assert.Equal(t, "FARGATE", k["launch_type"])
	vpc := k["network_configuration"].(map[string]interface{})["awsvpcConfiguration"].(map[string]interface{})
	var gotSubnets []string
	for _, x := range vpc["subnets"].([]interface{}) {
		gotSubnets = append(gotSubnets, x.(string))
	}
	sort.Strings(gotSubnets)
	assert.Equal(t, subnets, gotSubnets)
	assert.Equal(t, []interface{}{sg}, vpc["securityGroups"])
	assert.Equal(t, "DISABLED", vpc["assignPublicIp"])
	// Incremental runs; a run whose conf holds "full": true rebuilds (rendered with Jinja, as
	// Airflow renders templated fields).
	ov := k["overrides"].(map[string]interface{})["containerOverrides"].([]interface{})
	require.Len(t, ov, 1)
	assert.Equal(t, container["Name"], ov[0].(map[string]interface{})["name"])
	for conf, want := range map[string]string{`{"full": true}`: "true", "null": "false", "{}": "false"} {
		rendered := describeDag(t, path, conf)[0].Tasks[0].Rendered
		env := rendered["overrides"].(map[string]interface{})["containerOverrides"].([]interface{})[0].(map[string]interface{})["environment"]
		assert.Equal(t, []interface{}{map[string]interface{}{"name": stacks.EnvFull, "value": want}}, env, "conf %s", conf)
	}
	var envNames []string
	for _, e := range container["Environment"].([]interface{}) {
		em := e.(map[string]interface{})
		envNames = append(envNames, em["Name"].(string)+"="+cfnText(t, em["Value"]))
	}
	assert.Contains(t, envNames, stacks.EnvIncremental+"=true", "the daily run is incremental")
	assert.NotContains(t, strings.Join(envNames, " "), stacks.EnvSkipAnalysis, "with analysisEngine duckdb the task analyses")
	assert.Equal(t, logGroup, k["awslogs_group"])
	assert.Equal(t, "Ref:AWS::Region", k["awslogs_region"])
	assert.Equal(t, streamPrefix, k["awslogs_stream_prefix"])

	// MWAA runs in the same two private subnets, web server private.
	envProps := Props(env)
	assert.Equal(t, "PRIVATE_ONLY", envProps["WebserverAccessMode"])
	assert.Equal(t, s.Config.MwaaEnvironmentClass, envProps["EnvironmentClass"])
	assert.Equal(t, "False", envProps["AirflowConfigurationOptions"].(map[string]interface{})["core.dags_are_paused_at_creation"],
		"the DAG runs on its schedule without being unpaused in the (private) UI")
	var envSubnets []string
	for _, x := range envProps["NetworkConfiguration"].(map[string]interface{})["SubnetIds"].([]interface{}) {
		envSubnets = append(envSubnets, cfnString(t, x))
	}
	sort.Strings(envSubnets)
	assert.Equal(t, subnets, envSubnets)
}
