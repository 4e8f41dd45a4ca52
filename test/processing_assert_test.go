package test

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/analytics/sqldialect"
	"github.com/pinpipe/pinpipe/constructs/athena"
	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/record"
	"github.com/pinpipe/pinpipe/stacks"
)

// variant is a non-default configuration of the processing half: data destroyed on teardown,
// other buffering, the emulator on, an alarm address.
var variant = map[string]interface{}{
	"destroyData": true, "firehoseBufferSeconds": 300.0, "firehoseBufferMiB": 16.0,
	"alarmEmail": "ops@example.com", "scheduler": "eventbridge", "emulator": true,
}

// glueType is the Glue type of a DuckDB type of the cleaning contract.
func glueType(duck string) string {
	switch duck {
	case "VARCHAR":
		return "string"
	case "DOUBLE[]":
		return "array<double>"
	}
	return strings.ToLower(duck)
}

// columns returns "name type" pairs of a Glue table's storage descriptor.
func columns(t *testing.T, table map[string]interface{}) []string {
	t.Helper()
	sd := Props(table)["TableInput"].(map[string]interface{})["StorageDescriptor"].(map[string]interface{})
	var out []string
	for _, c := range sd["Columns"].([]interface{}) {
		m := c.(map[string]interface{})
		out = append(out, m["Name"].(string)+" "+m["Type"].(string))
	}
	return out
}

// tablesByName indexes a template's Glue tables by their name.
func tablesByName(tmpl map[string]interface{}) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	// The Iceberg tables are Custom::IcebergTable resources with AWS::Glue::Table's properties.
	for _, typ := range []string{"AWS::Glue::Table", "Custom::IcebergTable"} {
		for _, r := range Resources(tmpl, typ) {
			out[Props(r)["TableInput"].(map[string]interface{})["Name"].(string)] = r
		}
	}
	return out
}

// The streaming tables and the batch tables declare exactly the clean schema the cleaner emits
// (analytics/clean), column for column.
func TestCleanSchemasMatchTheCleaner(t *testing.T) {
	s := Synth(t, nil)
	streaming := tablesByName(s.TemplateJSON(t, s.Pipeline.Streaming.Stack))
	query := tablesByName(s.TemplateJSON(t, s.Pipeline.Query.Stack))
	for _, k := range record.Kinds {
		var want []string
		for _, c := range clean.Columns(k) {
			want = append(want, c.Name+" "+glueType(c.Type))
		}
		iceberg, ok := streaming[record.StreamTable(s.Config.UserID, k)]
		require.True(t, ok, "streaming table of %s", k)
		assert.Equal(t, want, columns(t, iceberg), "streaming table of %s", k)
		batch, ok := query[stacks.CleanTableName(k)]
		require.True(t, ok, "batch table of %s", k)
		assert.Equal(t, want, columns(t, batch), "batch table of %s", k)
	}
}

func TestStreamingTables(t *testing.T) {
	for _, tc := range []struct {
		name           string
		ctx            map[string]interface{}
		seconds, mib   float64
		deletionPolicy string
	}{
		{"default", nil, 60, 5, "Retain"},
		{"variant", variant, 300, 16, "Delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Synth(t, tc.ctx)
			tmpl := s.TemplateJSON(t, s.Pipeline.Streaming.Stack)
			cleaner := onlyResource(t, tmpl, "AWS::Lambda::Function", func(p map[string]interface{}) bool {
				return p["Handler"] == "bootstrap" && strings.HasPrefix(fmt.Sprint(p["Description"]), "Firehose transformation")
			})
			fn := Props(Resources(tmpl, "AWS::Lambda::Function")[cleaner])
			assert.Equal(t, "provided.al2023", fn["Runtime"])
			assert.Equal(t, []interface{}{"arm64"}, fn["Architectures"])
			assert.Nil(t, fn["ReservedConcurrentExecutions"])

			tables := tablesByName(tmpl)
			streams := Resources(tmpl, "AWS::KinesisFirehose::DeliveryStream")
			require.Len(t, streams, 3)
			seen := map[string]bool{}
			for _, r := range streams {
				p := Props(r)
				assert.Equal(t, "KinesisStreamAsSource", p["DeliveryStreamType"])
				ice := p["IcebergDestinationConfiguration"].(map[string]interface{})
				dest := ice["DestinationTableConfigurationList"].([]interface{})[0].(map[string]interface{})
				table := dest["DestinationTableName"].(string)
				seen[table] = true
				assert.Equal(t, stacks.DatabaseName(s.Config.UserID), dest["DestinationDatabaseName"])
				assert.Equal(t, "firehose-errors/"+table+"/", dest["S3ErrorOutputPrefix"])
				assert.Equal(t, "FailedDataOnly", ice["s3BackupMode"])
				assert.Equal(t, map[string]interface{}{"IntervalInSeconds": tc.seconds, "SizeInMBs": tc.mib}, ice["BufferingHints"])
				proc := ice["ProcessingConfiguration"].(map[string]interface{})["Processors"].([]interface{})[0].(map[string]interface{})
				assert.Equal(t, "Lambda", proc["Type"])
				arn := proc["Parameters"].([]interface{})[0].(map[string]interface{})
				assert.Equal(t, "LambdaArn", arn["ParameterName"])
				assert.Equal(t, map[string]interface{}{"Fn::GetAtt": []interface{}{cleaner, "Arn"}}, arn["ParameterValue"])
				// The table exists before the delivery stream that writes it.
				tbl, ok := tables[table]
				require.True(t, ok, "Glue table %s", table)
				assert.Equal(t, "Custom::IcebergTable", tbl["Type"], "an Iceberg table whose schema changes keep it Iceberg (not an AWS::Glue::Table)")
				assert.Equal(t, "CREATE", Props(tbl)["OpenTableFormatInput"].(map[string]interface{})["IcebergInput"].(map[string]interface{})["MetadataOperation"])
				assert.Equal(t, tc.deletionPolicy, tbl["DeletionPolicy"])
				assert.Equal(t, fmt.Sprint(tc.deletionPolicy == "Retain"), Props(tbl)["RetainOnDelete"])
				for id, r := range tmpl["Resources"].(map[string]interface{}) {
					if r.(map[string]interface{})["Type"] == "AWS::KinesisFirehose::DeliveryStream" && Props(r.(map[string]interface{}))["IcebergDestinationConfiguration"].(map[string]interface{})["DestinationTableConfigurationList"].([]interface{})[0].(map[string]interface{})["DestinationTableName"] == table {
						tableID := ""
						for tid, tr := range Resources(tmpl, "Custom::IcebergTable") {
							if tr["Properties"].(map[string]interface{})["TableInput"].(map[string]interface{})["Name"] == table {
								tableID = tid
							}
						}
						assert.Contains(t, r.(map[string]interface{})["DependsOn"], tableID, "%s is created after its table", id)
					}
				}
			}
			for _, k := range record.Kinds {
				assert.True(t, seen[record.StreamTable(s.Config.UserID, k)], "delivery stream for %s", k)
			}
			db := Resources(tmpl, "AWS::Glue::Database")
			require.Len(t, db, 1)
			for _, r := range db {
				assert.Equal(t, tc.deletionPolicy, r["DeletionPolicy"])
			}
		})
	}
}

// Each named query is the batch job's SQL file in Athena's dialect: the file's partial, merge and
// final stages as the one statement a full batch run executes (sqldialect.Statement), which
// athena.Translate gives after refusing DuckDB-only syntax.
func TestAthenaNamedQueriesAreTheBatchSQL(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.TemplateJSON(t, s.Pipeline.Query.Stack)
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), stacks.AnalysisSQLDir, "*.sql"))
	require.NoError(t, err)
	require.Len(t, files, 8, "the eight analysis queries")
	byName := map[string]map[string]interface{}{}
	for _, r := range Resources(tmpl, "AWS::Athena::NamedQuery") {
		byName[Props(r)["Name"].(string)] = Props(r)
	}
	require.Len(t, byName, 2*len(files), "each query over the batch tables and over the streaming tables")
	wg := onlyResource(t, tmpl, "AWS::Athena::WorkGroup", nil)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		q, ok := byName[name]
		require.True(t, ok, "named query %s", name)
		want, err := athena.Translate(string(raw))
		require.NoError(t, err)
		assert.Equal(t, want, q["QueryString"], name)
		one, err := sqldialect.Statement(string(raw))
		require.NoError(t, err)
		assert.Equal(t, one, q["QueryString"], "%s: the statement the batch job runs", name)
		assert.NotRegexp(t, `(?i)\bmedian\s*\(`, sqldialect.Mask(q["QueryString"].(string)), name)
		assert.Equal(t, stacks.DatabaseName(s.Config.UserID), q["Database"])
		assert.Equal(t, map[string]interface{}{"Ref": wg}, q["WorkGroup"])

		// Over the streaming tables: the same text after a prelude that binds pin, geo and
		// "user" to the streaming tables (one row per ind).
		sq, ok := byName[name+stacks.StreamingSuffix]
		require.True(t, ok, "named query %s%s", name, stacks.StreamingSuffix)
		bound, err := athena.Bind(want, stacks.StreamingViews(s.Config.UserID))
		require.NoError(t, err)
		assert.Equal(t, bound, sq["QueryString"])
		body := want // the file in Athena's dialect
		if i := strings.Index(body, "\nWITH "); i >= 0 {
			body = body[i+len("\nWITH "):]
		} else if i := strings.Index(body, "\nSELECT "); i >= 0 {
			body = body[i+1:]
		}
		assert.True(t, strings.HasSuffix(sq["QueryString"].(string), body), "%s: the query text after the prelude is the file's (translated)", name)
		for _, k := range record.Kinds {
			assert.Contains(t, sq["QueryString"], `FROM "`+record.StreamTable(s.Config.UserID, k)+`"`)
		}
	}
	w := Props(Resources(tmpl, "AWS::Athena::WorkGroup")[wg])
	cfg := w["WorkGroupConfiguration"].(map[string]interface{})
	assert.Equal(t, true, cfg["EnforceWorkGroupConfiguration"])
	assert.Equal(t, 10.0*1024*1024*1024, cfg["BytesScannedCutoffPerQuery"])
	rc := cfg["ResultConfiguration"].(map[string]interface{})
	assert.Equal(t, map[string]interface{}{"EncryptionOption": "SSE_S3"}, rc["EncryptionConfiguration"])
	assert.Contains(t, toJSON(t, rc["OutputLocation"]), `/athena/`)
	assert.Equal(t, true, w["RecursiveDeleteOption"], "cdk destroy removes the workgroup with its queries")

	// Raw tables read the sink's topics as JSON.
	tables := tablesByName(tmpl)
	for _, k := range record.Kinds {
		raw := Props(tables[stacks.RawTableName(k)])["TableInput"].(map[string]interface{})["StorageDescriptor"].(map[string]interface{})
		assert.Equal(t, "org.openx.data.jsonserde.JsonSerDe", raw["SerdeInfo"].(map[string]interface{})["SerializationLibrary"])
		assert.Contains(t, toJSON(t, raw["Location"]), "/topics/"+record.Topic(s.Config.UserID, k)+"/")
		ti := Props(tables[stacks.RawTableName(k)])["TableInput"].(map[string]interface{})
		params := ti["Parameters"].(map[string]interface{})
		assert.Equal(t, "0,0", params["projection.kafka_partition.range"], "one partition per topic by default")
		assert.Contains(t, toJSON(t, params["storage.location.template"]), "/topics/"+record.Topic(s.Config.UserID, k)+"/partition=${kafka_partition}/")
	}
}

func toJSON(t *testing.T, v interface{}) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// The Go Lambda assets are linux/arm64 executables named bootstrap, and two independent synths
// (two builds) give the same asset hash.
func TestGoLambdaAssets(t *testing.T) {
	var keys []string
	for _, ctx := range []map[string]interface{}{nil, variant} {
		s := Synth(t, ctx)
		tmpl := s.TemplateJSON(t, s.Pipeline.Streaming.Stack)
		id := onlyResource(t, tmpl, "AWS::Lambda::Function", func(p map[string]interface{}) bool {
			return p["Handler"] == "bootstrap" && strings.HasPrefix(fmt.Sprint(p["Description"]), "Firehose transformation")
		})
		key := Props(Resources(tmpl, "AWS::Lambda::Function")[id])["Code"].(map[string]interface{})["S3Key"].(string)
		keys = append(keys, key)
		dir := filepath.Join(s.Dir, "asset."+strings.TrimSuffix(key, ".zip"))
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		assert.Equal(t, "bootstrap", entries[0].Name())
		info, err := entries[0].Info()
		require.NoError(t, err)
		assert.NotZero(t, info.Mode()&0o111, "bootstrap is executable")
		f, err := elf.Open(filepath.Join(dir, "bootstrap"))
		require.NoError(t, err, "bootstrap is an ELF file")
		assert.Equal(t, elf.EM_AARCH64, f.Machine)
		assert.Equal(t, elf.ELFCLASS64, f.Class)
		for _, prog := range f.Progs {
			assert.NotEqual(t, elf.PT_INTERP, prog.Type, "statically linked (no interpreter)")
		}
		f.Close()
	}
	assert.Equal(t, keys[0], keys[1], "the asset hash is the same across two synths")
}

// The batch image is a Docker asset built from analytics/Dockerfile for arm64 when deploying
// (synth never builds it), from a build context without node_modules, .git or cdk.out, and with
// the same hash across two synths.
func TestBatchImageAsset(t *testing.T) {
	var hashes []string
	for _, ctx := range []map[string]interface{}{nil, variant} {
		s := Synth(t, ctx)
		st := s.Pipeline.Batch.Stack
		raw, err := os.ReadFile(filepath.Join(s.Dir, *st.ArtifactId()+".assets.json"))
		require.NoError(t, err)
		var assets struct {
			DockerImages map[string]struct {
				Source struct {
					Directory  string `json:"directory"`
					DockerFile string `json:"dockerFile"`
					Platform   string `json:"platform"`
				} `json:"source"`
			} `json:"dockerImages"`
		}
		require.NoError(t, json.Unmarshal(raw, &assets))
		require.Len(t, assets.DockerImages, 1)
		for hash, img := range assets.DockerImages {
			hashes = append(hashes, hash)
			assert.Equal(t, "analytics/Dockerfile", img.Source.DockerFile)
			assert.Equal(t, "linux/arm64", img.Source.Platform)
			ctxDir := filepath.Join(s.Dir, img.Source.Directory)
			for _, present := range []string{"go.mod", "analytics/Dockerfile", "lambda", "record"} {
				_, err := os.Stat(filepath.Join(ctxDir, present))
				assert.NoError(t, err, "the build context holds %s", present)
			}
			for _, absent := range []string{"node_modules", ".git", "cdk.out", "test/testdata"} {
				_, err := os.Stat(filepath.Join(ctxDir, absent))
				assert.True(t, os.IsNotExist(err), "the build context must not hold %s", absent)
			}
		}
		td := Props(Resources(s.TemplateJSON(t, st), "AWS::ECS::TaskDefinition")[onlyResource(t, s.TemplateJSON(t, st), "AWS::ECS::TaskDefinition", nil)])
		assert.Equal(t, map[string]interface{}{"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}, td["RuntimePlatform"])
		assert.Equal(t, []interface{}{"FARGATE"}, td["RequiresCompatibilities"])
	}
	assert.Equal(t, hashes[0], hashes[1])
}

// statements lists every IAM statement of the template's policies and roles.
func statements(tmpl map[string]interface{}) []map[string]interface{} {
	var out []map[string]interface{}
	add := func(doc interface{}) {
		d, _ := doc.(map[string]interface{})
		list, _ := d["Statement"].([]interface{})
		for _, st := range list {
			out = append(out, st.(map[string]interface{}))
		}
	}
	for _, r := range Resources(tmpl, "AWS::IAM::Policy") {
		add(Props(r)["PolicyDocument"])
	}
	for _, r := range Resources(tmpl, "AWS::IAM::Role") {
		pols, _ := Props(r)["Policies"].([]interface{})
		for _, p := range pols {
			add(p.(map[string]interface{})["PolicyDocument"])
		}
	}
	return out
}

func list(v interface{}) []interface{} {
	if l, ok := v.([]interface{}); ok {
		return l
	}
	return []interface{}{v}
}

// Least privilege and no open doors in every processing stack: no ingress from anywhere, no
// service-wide action, and "*" resources only for the actions that take no resource.
func TestProcessingSecurity(t *testing.T) {
	noResource := map[string]bool{ // actions IAM cannot scope to a resource
		"cloudwatch:PutMetricData": true, "logs:DescribeLogGroups": true,
		"s3:GetAccountPublicAccessBlock": true, "ecr:GetAuthorizationToken": true,
	}
	for _, sc := range schedulers {
		s := Synth(t, sc.ctx)
		for _, st := range s.Pipeline.ProcessingStacks() {
			tmpl := s.TemplateJSON(t, st)
			name := sc.name + "/" + *st.StackName()
			var ingress []interface{}
			for _, r := range Resources(tmpl, "AWS::EC2::SecurityGroup") {
				ingress = append(ingress, list(Props(r)["SecurityGroupIngress"])...)
			}
			for _, r := range Resources(tmpl, "AWS::EC2::SecurityGroupIngress") {
				ingress = append(ingress, Props(r))
			}
			for _, in := range ingress {
				if m, ok := in.(map[string]interface{}); ok {
					assert.NotEqual(t, "0.0.0.0/0", m["CidrIp"], name)
					assert.NotEqual(t, "::/0", m["CidrIpv6"], name)
				}
			}
			for _, stmt := range statements(tmpl) {
				if stmt["Effect"] != "Allow" {
					continue
				}
				for _, a := range list(stmt["Action"]) {
					act := a.(string)
					assert.False(t, act == "*" || strings.HasSuffix(act, ":*"), "%s: service-wide action %s", name, act)
				}
				for _, res := range list(stmt["Resource"]) {
					if res != "*" {
						continue
					}
					for _, a := range list(stmt["Action"]) {
						assert.True(t, noResource[a.(string)], "%s: %s on every resource", name, a)
					}
				}
			}
		}
	}
}

// The batch task's role may read the sink's topics/ prefix and write the results' batch/ prefix;
// of the results it may read back batch/_state/ and batch/clean/, and list and delete there and
// in batch/quarantine/ (its incremental state, analytics/outlayout), nothing else.
func TestBatchTaskRole(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.TemplateJSON(t, s.Pipeline.Batch.Stack)
	td := Props(Resources(tmpl, "AWS::ECS::TaskDefinition")[onlyResource(t, tmpl, "AWS::ECS::TaskDefinition", nil)])
	role := td["TaskRoleArn"].(map[string]interface{})["Fn::GetAtt"].([]interface{})[0].(string)
	var got []string
	for id, r := range Resources(tmpl, "AWS::IAM::Policy") {
		p := Props(r)
		if toJSON(t, p["Roles"]) != toJSON(t, []interface{}{map[string]interface{}{"Ref": role}}) {
			continue
		}
		_ = id
		for _, stmt := range list(p["PolicyDocument"].(map[string]interface{})["Statement"]) {
			m := stmt.(map[string]interface{})
			for _, res := range list(m["Resource"]) {
				for _, a := range list(m["Action"]) {
					got = append(got, a.(string)+" "+maskImports(toJSON(t, res)))
				}
			}
		}
	}
	require.NotEmpty(t, got)
	state := `"Results"\},"/batch/(_state|clean|quarantine)/\*"\]\]\}$`
	for _, g := range got {
		switch {
		case strings.HasPrefix(g, "s3:DeleteObject "):
			assert.Regexp(t, state, g)
		case strings.HasPrefix(g, "s3:GetObject ") && strings.Contains(g, `"Results"`):
			assert.Regexp(t, `"Results"\},"/batch/(_state|clean)/\*"\]\]\}$`, g)
		case strings.HasPrefix(g, "s3:ListBucket ") && strings.Contains(g, `"Results"`):
			assert.Equal(t, `s3:ListBucket {"Fn::ImportValue":"Results"}`, g, "listing the results bucket, under conditions (the rehearsal checks them)")
		case strings.HasPrefix(g, "s3:Get") || strings.HasPrefix(g, "s3:List"):
			assert.Regexp(t, `"Sink"\}$|"Sink"\},"/topics/\*"\]\]\}$`, g)
		case strings.HasPrefix(g, "s3:Put") || strings.HasPrefix(g, "s3:Abort"):
			assert.Regexp(t, `"Results"\},"/batch/\*"\]\]\}$`, g)
		default:
			t.Errorf("unexpected grant to the task role: %s", g)
		}
	}
	sort.Strings(got)
	t.Logf("task role:\n%s", strings.Join(got, "\n"))
}

var importRE = regexp.MustCompile(`Pinpipe-[a-z0-9-]+-Storage:ExportsOutput[A-Za-z]*?(Sink|Results)[A-Za-z0-9]*`)

func maskImports(s string) string { return importRE.ReplaceAllString(s, "$1") }

// With the EventBridge scheduler, one daily schedule starts the task in the private subnets
// and nothing of MWAA is declared; its role may start only this task family in this cluster.
func TestEventBridgeSchedule(t *testing.T) {
	s := Synth(t, map[string]interface{}{"scheduler": "eventbridge"})
	tmpl := s.TemplateJSON(t, s.Pipeline.Batch.Stack)
	assert.Empty(t, Resources(tmpl, "AWS::MWAA::Environment"))
	id := onlyResource(t, tmpl, "AWS::Scheduler::Schedule", nil)
	p := Props(Resources(tmpl, "AWS::Scheduler::Schedule")[id])
	assert.Equal(t, stacks.BatchCron, p["ScheduleExpression"])
	assert.Equal(t, "ENABLED", p["State"])
	target := p["Target"].(map[string]interface{})
	cluster := onlyResource(t, tmpl, "AWS::ECS::Cluster", nil)
	assert.Equal(t, map[string]interface{}{"Fn::GetAtt": []interface{}{cluster, "Arn"}}, target["Arn"])
	ecs := target["EcsParameters"].(map[string]interface{})
	assert.Equal(t, "FARGATE", ecs["LaunchType"])
	assert.Equal(t, map[string]interface{}{"Ref": onlyResource(t, tmpl, "AWS::ECS::TaskDefinition", nil)}, ecs["TaskDefinitionArn"])
	vpc := ecs["NetworkConfiguration"].(map[string]interface{})["AwsvpcConfiguration"].(map[string]interface{})
	assert.Equal(t, "DISABLED", vpc["AssignPublicIp"])
	assert.Len(t, vpc["Subnets"], 2)
	raw := toJSON(t, statements(tmpl))
	assert.Contains(t, raw, `"ecs:cluster"`, "RunTask is conditioned on the cluster")
	assert.Contains(t, raw, `"iam:PassedToService":"ecs-tasks.amazonaws.com"`)
}

// Teardown: what is not data goes with `cdk destroy`; the data (Glue catalogue of retained
// buckets) stays unless destroyData is set.
func TestProcessingTeardown(t *testing.T) {
	s := Synth(t, nil)
	for _, st := range s.Pipeline.ProcessingStacks() {
		tmpl := s.TemplateJSON(t, st)
		for id, r := range tmpl["Resources"].(map[string]interface{}) {
			res := r.(map[string]interface{})
			switch res["Type"] {
			case "AWS::Glue::Database", "AWS::Glue::Table", "Custom::IcebergTable":
				if res["DeletionPolicy"] == "Retain" {
					continue
				}
				// The raw and batch tables describe files that stay; only their metadata goes.
				assert.Contains(t, toJSON(t, Props(res)), "EXTERNAL_TABLE", id)
			case "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::KMS::Key":
				assert.Equal(t, "Delete", res["DeletionPolicy"], "%s %s outlives cdk destroy", res["Type"], id)
			default:
				assert.NotEqual(t, "Retain", res["DeletionPolicy"], "%s %s outlives cdk destroy", res["Type"], id)
			}
		}
	}
	// The DAG bucket empties itself so that it can be deleted.
	batch := s.TemplateJSON(t, s.Pipeline.Batch.Stack)
	assert.NotEmpty(t, Resources(batch, "Custom::S3AutoDeleteObjects"))
}

// Monitoring: every alarm notifies the encrypted topic; the dashboard shows what the issue asks.
func TestMonitoring(t *testing.T) {
	s := Synth(t, variant)
	tmpl := s.TemplateJSON(t, s.Pipeline.Monitoring.Stack)
	topic := onlyResource(t, tmpl, "AWS::SNS::Topic", nil)
	assert.NotNil(t, Props(Resources(tmpl, "AWS::SNS::Topic")[topic])["KmsMasterKeyId"])
	alarms := Resources(tmpl, "AWS::CloudWatch::Alarm")
	assert.GreaterOrEqual(t, len(alarms), 10)
	for id, a := range alarms {
		assert.Equal(t, []interface{}{map[string]interface{}{"Ref": topic}}, Props(a)["AlarmActions"], id)
	}
	sub := Resources(tmpl, "AWS::SNS::Subscription")
	require.Len(t, sub, 1)
	for _, r := range sub {
		assert.Equal(t, "ops@example.com", Props(r)["Endpoint"])
	}
	dash := toJSON(t, Props(Resources(tmpl, "AWS::CloudWatch::Dashboard")[onlyResource(t, tmpl, "AWS::CloudWatch::Dashboard", nil)]))
	for _, m := range []string{"IncomingRecords", "GetRecords.IteratorAgeMilliseconds", "DeliveryToIceberg.DataFreshness",
		"ExecuteProcessing.Success", "Errors", "Duration", "TriggeredRules"} {
		assert.Contains(t, dash, m)
	}
	rule := Props(Resources(tmpl, "AWS::Events::Rule")[onlyResource(t, tmpl, "AWS::Events::Rule", nil)])
	pattern := toJSON(t, rule["EventPattern"])
	assert.Contains(t, pattern, `"ECS Task State Change"`)
	assert.Contains(t, pattern, `"STOPPED"`)
	assert.Contains(t, pattern, `TaskFailedToStart`)
}

// Each delivery stream's role reaches only its own table: S3 objects under the table's prefix
// and its error prefix, Glue on its catalog, database and table, its own source stream.
func TestFirehoseRoles(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.TemplateJSON(t, s.Pipeline.Streaming.Stack)
	db := stacks.DatabaseName(s.Config.UserID)
	for _, k := range record.Kinds {
		table := record.StreamTable(s.Config.UserID, k)
		role := ""
		for id, r := range Resources(tmpl, "AWS::IAM::Role") {
			if strings.Contains(toJSON(t, Props(r)["Description"]), "Iceberg table "+table) {
				role = id
			}
		}
		require.NotEmpty(t, role, "role of %s", table)
		seen := map[string]int{}
		for _, r := range Resources(tmpl, "AWS::IAM::Policy") {
			p := Props(r)
			if toJSON(t, p["Roles"]) != toJSON(t, []interface{}{map[string]interface{}{"Ref": role}}) {
				continue
			}
			for _, st := range list(p["PolicyDocument"].(map[string]interface{})["Statement"]) {
				m := st.(map[string]interface{})
				for _, a := range list(m["Action"]) {
					for _, res := range list(m["Resource"]) {
						r := maskImports(toJSON(t, res))
						seen[strings.Split(a.(string), ":")[0]]++
						switch act := a.(string); {
						case strings.HasPrefix(act, "s3:"):
							assert.Regexp(t, `"Results"\}$|"Results"\},"/(iceberg/`+db+`\.db/`+table+`|firehose-errors/`+table+`)/\*"\]\]\}$`, r, act)
						case strings.HasPrefix(act, "glue:"):
							assert.Regexp(t, `:catalog"|:database/`+db+`"|:table/`+db+`/`+table+`"`, r, act)
						case strings.HasPrefix(act, "kinesis:"):
							assert.Contains(t, r, "Stream"+strings.ToUpper(string(k)[:1])+string(k)[1:], act)
						case strings.HasPrefix(act, "lambda:"), strings.HasPrefix(act, "logs:"):
						default:
							t.Errorf("%s: unexpected action %s on %s", table, act, r)
						}
					}
				}
			}
		}
		for _, svc := range []string{"s3", "glue", "kinesis", "lambda", "logs"} {
			assert.NotZero(t, seen[svc], "%s: no %s grant checked", table, svc)
		}
	}
}

// The Glue tables over the batch job's clean Parquet look exactly where the batch job writes it:
// the folder of clean.ParquetPath under the task's output prefix.
func TestCleanTablesPointAtTheBatchOutput(t *testing.T) {
	s := Synth(t, nil)
	query := tablesByName(s.TemplateJSON(t, s.Pipeline.Query.Stack))
	for _, k := range record.Kinds {
		tbl, ok := query[stacks.CleanTableName(k)]
		require.True(t, ok, "batch table of %s", k)
		sd := Props(tbl)["TableInput"].(map[string]interface{})["StorageDescriptor"].(map[string]interface{})
		loc := toJSON(t, sd["Location"])
		// The location is s3://<results bucket> joined with the prefix, its last part.
		want := "/" + stacks.BatchPrefix + path.Dir(clean.ParquetPath(k)) + "/"
		assert.True(t, strings.HasSuffix(loc, strconv.Quote(want)+"]]}"), "location of the %s table: %s, want it to end in %s", k, loc, want)
	}
}
