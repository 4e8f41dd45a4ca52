package test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/stacks"
)

// schedulers are the two ways the batch job can be scheduled; the default is MWAA.
var schedulers = []struct {
	name string
	ctx  map[string]interface{}
}{
	{"mwaa", nil},
	{"eventbridge", map[string]interface{}{"scheduler": "eventbridge"}},
}

// athenaSchedulers are the schedulers with the analyses in Athena (analysisEngine athena).
var athenaSchedulers = []struct {
	name string
	ctx  map[string]interface{}
}{
	{"athena-mwaa", map[string]interface{}{"analysisEngine": "athena"}},
	{"athena-eventbridge", map[string]interface{}{"analysisEngine": "athena", "scheduler": "eventbridge"}},
}

// The processing stacks synthesize with either scheduler and either analysis engine, match their
// golden templates, pass cdk-nag with no unsuppressed finding and CDK's CloudFormation
// validation with none.
func TestProcessingStacks(t *testing.T) {
	for _, sc := range append(schedulers[:len(schedulers):len(schedulers)], athenaSchedulers...) {
		t.Run(sc.name, func(t *testing.T) {
			s := Synth(t, sc.ctx)
			if v := s.ValidationViolations(t); len(v) > 0 {
				t.Errorf("built-in CloudFormation validation reported:\n%v", v)
			}
			p := s.Pipeline
			Snapshot(t, "batch-"+sc.name, s.TemplateJSON(t, p.Batch.Stack))
			if sc.ctx == nil {
				Snapshot(t, "streaming", s.TemplateJSON(t, p.Streaming.Stack))
				Snapshot(t, "query", s.TemplateJSON(t, p.Query.Stack))
				Snapshot(t, "monitoring", s.TemplateJSON(t, p.Monitoring.Stack))
			}
			for _, st := range p.ProcessingStacks() {
				s.RequireNoNagFindings(t, st)
			}
		})
	}
}

// With the emulator on (and the other non-default values), every processing stack still passes
// cdk-nag and validation; the emulator's key lives in Secrets Manager only, and each mode runs on
// a schedule whose role may invoke that one function.
func TestEmulatorStack(t *testing.T) {
	s := Synth(t, variant)
	if v := s.ValidationViolations(t); len(v) > 0 {
		t.Errorf("built-in CloudFormation validation reported:\n%v", v)
	}
	for _, st := range s.Pipeline.ProcessingStacks() {
		s.RequireNoNagFindings(t, st)
	}
	require.NotNil(t, s.Pipeline.Emulator)
	tmpl := s.TemplateJSON(t, s.Pipeline.Emulator.Stack)
	Snapshot(t, "emulator", tmpl)
	secret := onlyResource(t, tmpl, "AWS::SecretsManager::Secret", nil)
	key := Props(Resources(tmpl, "AWS::ApiGateway::ApiKey")[onlyResource(t, tmpl, "AWS::ApiGateway::ApiKey", nil)])
	assert.Contains(t, toJSON(t, key["Value"]), "{{resolve:secretsmanager:", "the key's value is a dynamic reference")
	assert.Contains(t, toJSON(t, key["Value"]), secret)
	upk := Props(Resources(tmpl, "AWS::ApiGateway::UsagePlanKey")[onlyResource(t, tmpl, "AWS::ApiGateway::UsagePlanKey", nil)])
	assert.Contains(t, toJSON(t, upk["UsagePlanId"]), "Ingestion")

	fns := Resources(tmpl, "AWS::Lambda::Function")
	require.Len(t, fns, 2)
	modes := map[string]string{}
	for id, r := range fns {
		env := Props(r)["Environment"].(map[string]interface{})["Variables"].(map[string]interface{})
		modes[env["PINPIPE_MODE"].(string)] = id
		assert.Equal(t, map[string]interface{}{"Ref": secret}, env["PINPIPE_API_KEY_SECRET_ARN"])
		assert.NotContains(t, toJSON(t, env), "apiKey", "no key value in the environment")
		assert.Equal(t, "provided.al2023", Props(r)["Runtime"])
	}
	assert.Len(t, modes, 2)
	for mode, fn := range modes {
		found := false
		for _, r := range Resources(tmpl, "AWS::Scheduler::Schedule") {
			p := Props(r)
			if toJSON(t, p["Target"].(map[string]interface{})["Arn"]) == toJSON(t, map[string]interface{}{"Fn::GetAtt": []interface{}{fn, "Arn"}}) {
				found = true
				assert.Equal(t, stacks.EmulatorSchedule, p["ScheduleExpression"], mode)
			}
		}
		assert.True(t, found, "a schedule invokes the %s emulator", mode)
	}
}
