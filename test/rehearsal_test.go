package test

// The deploy rehearsal: the synthesized templates of several configurations, deployed in a model
// (cfnmodel_test.go) into fake accounts and regions, checked against AWS's published rule data —
// the CloudFormation registry schemas and the service spec database (cfnspec_test.go), IAM's
// action and condition-key data and its policy evaluation (iam_test.go, iamcheck/) — instead of
// our reading of the rules. Every check is also run on control inputs that break its rule, to
// show that it can fail.
//
// Each test logs what it evaluated (resources, properties, IAM calls), for the record.

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// The fake accounts and regions of the rehearsal.
const (
	fakeAccount  = "123456789012"
	fakeAccount2 = "210987654321"
	fakeRegion   = "us-east-1"
	fakeRegion2  = "eu-west-1"
)

// rehearsalConfig is one configuration the rehearsal synthesizes.
type rehearsalConfig struct {
	Name string
	Env  Env
	Ctx  map[string]interface{}
}

// boundContext is the context a synthesis bound to env needs for CDK's lookups (the AZs of the
// region), as `cdk synth` would record it in cdk.context.json.
func boundContext(env Env, ctx map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{
		fmt.Sprintf("availability-zones:account=%s:region=%s", env.Account, env.Region): []interface{}{
			env.Region + "a", env.Region + "b", env.Region + "c"},
	}
	for k, v := range ctx {
		out[k] = v
	}
	return out
}

// rehearsalConfigs are the configurations every check runs over: the defaults; every switch
// away from its default (variantContext); the other scheduler with the emulator; a userId with a
// hyphen; and stacks bound to an account and region, in two regions.
func rehearsalConfigs() []rehearsalConfig {
	b1 := Env{Account: fakeAccount, Region: fakeRegion}
	b2 := Env{Account: fakeAccount, Region: fakeRegion2}
	return []rehearsalConfig{
		{Name: "default"},
		{Name: "variant", Ctx: variantContext()},
		{Name: "eventbridge+emulator", Ctx: map[string]interface{}{"scheduler": "eventbridge", "emulator": true}},
		{Name: "userId=team-a", Ctx: map[string]interface{}{"userId": "team-a"}},
		{Name: "bound " + b1.Region, Env: b1, Ctx: boundContext(b1, nil)},
		{Name: "bound " + b2.Region, Env: b2, Ctx: boundContext(b2, nil)},
	}
}

// synthConfig synthesizes c, or fails the test naming the configuration.
func synthConfig(t *testing.T, c rehearsalConfig) *Synthesis {
	t.Helper()
	s, err := TrySynthEnv(c.Env, c.Ctx)
	if err != nil {
		t.Errorf("configuration %s does not synthesize: %v", c.Name, firstLine(err.Error()))
		return nil
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// deployConfig deploys the synthesis of c into its own env, or the first fake account and region.
func deployConfig(t *testing.T, rules *cfnRules, s *Synthesis, c rehearsalConfig) *Deployment {
	acct, region := fakeAccount, fakeRegion
	if c.Env.Account != "" {
		acct, region = c.Env.Account, c.Env.Region
	}
	return Deploy(t, rules, s, acct, region)
}

// reportFindings fails t with every finding, sorted, one a line.
func reportFindings(t *testing.T, what string, fs []Finding) {
	t.Helper()
	if len(fs) == 0 {
		return
	}
	lines := make([]string, 0, len(fs))
	seen := map[string]bool{}
	for _, f := range fs {
		s := f.String()
		if !seen[s] {
			seen[s] = true
			lines = append(lines, "  "+s)
		}
	}
	sort.Strings(lines)
	t.Errorf("%s: %d findings:\n%s", what, len(lines), strings.Join(lines, "\n"))
}

// TestRehearsalSchemas validates every property of every resource of every configuration
// against the resource type's CloudFormation registry schema.
func TestRehearsalSchemas(t *testing.T) {
	rules := loadRules(t)
	stats := &schemaStats{Types: map[string]bool{}}
	var findings []Finding
	for _, c := range rehearsalConfigs() {
		s := synthConfig(t, c)
		if s == nil {
			continue
		}
		d := deployConfig(t, rules, s, c)
		ch := &schemaChecker{rules: rules, d: d, stats: stats}
		for _, name := range d.StackNames() {
			ds := d.Stack(name)
			for _, id := range sortedKeysRes(ds.Resources()) {
				ch.CheckResource(ds, id)
			}
		}
		for i := range ch.out {
			ch.out[i].Where = c.Name
		}
		findings = append(findings, ch.out...)
		for _, e := range d.Errors {
			findings = append(findings, Finding{Check: "references", Where: c.Name, Rule: e})
		}
	}
	t.Logf("schema check (%s, %s): %d resources of %d types in %d configurations; %d top-level properties, %d values checked; "+
		"%d intrinsic values resolved and checked in full, %d checked by type only (deploy-time values); %d patterns checked, %d not expressible in RE2; "+
		"%d scalars converted as CloudFormation does; %d resources checked against the service spec only; %d custom/metadata resources skipped",
		rules.RegistryVersion, rules.SpecVersion, stats.Resources, len(stats.Types), len(rehearsalConfigs()), stats.TopProperties, stats.Values,
		stats.IntrinsicsChecked, stats.IntrinsicsTyped, stats.PatternsChecked, stats.PatternsUncompiled, stats.Coerced, stats.SpecOnly, stats.NoSchema)
	var dis []string
	for k := range stats.Disagreements {
		dis = append(dis, "  "+k)
	}
	sort.Strings(dis)
	if len(dis) > 0 {
		t.Logf("%d places where the registry snapshot and the newer service spec differ (checked against the service spec):\n%s", len(dis), strings.Join(dis, "\n"))
	}
	reportFindings(t, "templates against the CloudFormation registry schemas", findings)
}

func sortedKeysRes(m map[string]map[string]interface{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
