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
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/stacks"
)

// The fake accounts and regions of the rehearsal, and the repository of its GitHub OIDC stacks.
const (
	githubRepo   = "pinpipe/pinpipe"
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
// away from its default (variantContext); the other scheduler with the emulator; the analyses in
// Athena with either scheduler; SigV4 auth with
// the emulator (its signing role); a userId with a
// hyphen; and stacks bound to an account and region, in two regions. The variant, team-a and the
// bound ones add the shared GitHub OIDC stack (githubRepo), as two userIds of one region and one
// userId in two regions deploy it.
func rehearsalConfigs() []rehearsalConfig {
	b1 := Env{Account: fakeAccount, Region: fakeRegion}
	b2 := Env{Account: fakeAccount, Region: fakeRegion2}
	// The GitHub OIDC stack in both regions of the account: the first creates the account's
	// provider, the second imports it (README: one provider per account).
	oidc1 := map[string]interface{}{"githubRepo": githubRepo}
	oidc2 := map[string]interface{}{"githubRepo": githubRepo,
		"githubOidcProviderArn": "arn:aws:iam::" + fakeAccount + ":oidc-provider/token.actions.githubusercontent.com"}
	return []rehearsalConfig{
		{Name: "default"},
		{Name: "variant", Ctx: variantContext()},
		{Name: "eventbridge+emulator", Ctx: map[string]interface{}{"scheduler": "eventbridge", "emulator": true}},
		{Name: "analysisEngine=athena", Ctx: map[string]interface{}{"analysisEngine": "athena"}},
		{Name: "athena+eventbridge", Ctx: map[string]interface{}{"analysisEngine": "athena", "scheduler": "eventbridge"}},
		{Name: "apiAuth=iam+emulator", Ctx: map[string]interface{}{"apiAuth": "iam", "emulator": true}},
		{Name: "userId=team-a", Ctx: map[string]interface{}{"userId": "team-a", "githubRepo": githubRepo}},
		{Name: "bound " + b1.Region, Env: b1, Ctx: boundContext(b1, oidc1)},
		{Name: "bound " + b2.Region, Env: b2, Ctx: boundContext(b2, oidc2)},
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
	t.Logf("rehearsal schemas (%s, %s): %d resources of %d types in %d configurations; %d top-level properties, %d values checked; "+
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
		t.Logf("rehearsal schemas: %d places where the registry snapshot and the newer service spec differ (checked against the service spec):\n%s", len(dis), strings.Join(dis, "\n"))
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

// TestRehearsalNames deploys the app for two users, in two regions and two accounts, side by
// side: no explicit physical name may collide at its service's scope (rehearsal_names_test.go),
// and every name keeps within its service's limits.
func TestRehearsalNames(t *testing.T) {
	rules := loadRules(t)
	cs := map[string]rehearsalConfig{}
	for _, c := range rehearsalConfigs() {
		cs[c.Name] = c
	}
	stats := &nameStats{}
	var findings []Finding
	deploy := func(name, account, region string) *Deployment {
		s := synthConfig(t, cs[name])
		if s == nil {
			return nil
		}
		return Deploy(t, rules, s, account, region)
	}
	// Environment-agnostic templates: user demo in two regions and two accounts, beside two
	// other users.
	sets := map[string][]*Deployment{
		"agnostic": {deploy("default", fakeAccount, fakeRegion), deploy("default", fakeAccount, fakeRegion2),
			deploy("default", fakeAccount2, fakeRegion), deploy("variant", fakeAccount, fakeRegion),
			deploy("userId=team-a", fakeAccount, fakeRegion)},
		// Stacks bound to their account and region (cdk deploy with a profile), user demo in two
		// regions of one account.
		"bound": {deploy("bound "+fakeRegion, fakeAccount, fakeRegion), deploy("bound "+fakeRegion2, fakeAccount, fakeRegion2)},
	}
	for _, set := range []string{"agnostic", "bound"} {
		var deps []*Deployment
		for _, d := range sets[set] {
			if d != nil {
				deps = append(deps, d)
			}
		}
		findings = append(findings, nameFindings(deps, stats)...)
	}
	t.Logf("rehearsal names: %d explicit names in %d deployments checked against their service's length and pattern, %d of them unique per their scope (%d types in the names table)",
		stats.Names, len(sets["agnostic"])+len(sets["bound"]), stats.Scoped, len(physicalNames))
	reportFindings(t, "explicit names", findings)
}

// replacementChanges are configuration changes that alter create-only properties: each is
// synthesized beside the defaults, and every named resource whose create-only properties differ
// must be renamed.
var replacementChanges = []struct {
	Name string
	Ctx  map[string]interface{}
}{
	{"flushSize 1→100 (connector configuration)", map[string]interface{}{"flushSize": 100}},
	{"an existing MSK cluster (bootstrap servers, topic cluster)", map[string]interface{}{"existingMskClusterArn": existingClusterArn}},
	{"a local connector zip (plugin location)", map[string]interface{}{"connectorZipPath": "testdata/connector-fixture.zip"}},
	{"topicReplicationFactor 2→1", map[string]interface{}{"topicReplicationFactor": 1}},
}

// TestRehearsalReplacement: a change of a create-only property replaces the resource, and
// CloudFormation creates the replacement before it deletes the old one, so a resource with an
// explicit name must get a new name whenever one of its create-only properties (the registry's
// createOnlyProperties, the spec's causesReplacement) changes.
func TestRehearsalReplacement(t *testing.T) {
	rules := loadRules(t)
	base := synthConfig(t, rehearsalConfig{Name: "default"})
	if base == nil {
		return
	}
	stats := &nameStats{}
	var findings []Finding
	for _, ch := range replacementChanges {
		ctx := map[string]interface{}{}
		for k, v := range ch.Ctx {
			if s, ok := v.(string); ok && strings.HasPrefix(s, "testdata/") {
				v = filepath.Join(testenv.RepoRoot(), "test", s)
			}
			ctx[k] = v
		}
		s := synthConfig(t, rehearsalConfig{Name: ch.Name, Ctx: ctx})
		if s == nil {
			continue
		}
		stats.Pairs++
		a := Deploy(t, rules, base, fakeAccount, fakeRegion)
		b := Deploy(t, rules, s, fakeAccount, fakeRegion)
		findings = append(findings, replacementFindings(rules, a, b, ch.Name, stats)...)
	}
	t.Logf("rehearsal replacement: %d configuration changes, %d named resources compared property by property against their create-only lists; %d create-only changes exempt",
		stats.Pairs, stats.Compared, len(stats.Exempt))
	for _, e := range stats.Exempt {
		t.Logf("rehearsal replacement: exempt: %s", e)
	}
	reportFindings(t, "replacements of named resources", findings)
}

// configSchemaMap ties the context keys whose values go straight into a resource property to
// that property, so that every value the configuration accepts can be checked against the
// registry schema without a synthesis per value. TestRehearsalConfigRanges verifies each entry
// on the default synthesis (the property holds the key's default).
var configSchemaMap = []struct {
	Key, Type, Path string
	// Strings are candidate values of a string key, probed with every value of its enum tag
	// (int keys are probed over a range).
	Strings []string
}{
	{Key: "connectorMcuCount", Type: "AWS::KafkaConnect::Connector", Path: "Capacity/ProvisionedCapacity/McuCount"},
	{Key: "connectorWorkers", Type: "AWS::KafkaConnect::Connector", Path: "Capacity/ProvisionedCapacity/WorkerCount"},
	{Key: "firehoseBufferSeconds", Type: "AWS::KinesisFirehose::DeliveryStream", Path: "IcebergDestinationConfiguration/BufferingHints/IntervalInSeconds"},
	{Key: "firehoseBufferMiB", Type: "AWS::KinesisFirehose::DeliveryStream", Path: "IcebergDestinationConfiguration/BufferingHints/SizeInMBs"},
	{Key: "kinesisShards", Type: "AWS::Kinesis::Stream", Path: "ShardCount"},
	{Key: "mskVolumeGiB", Type: "AWS::MSK::Cluster", Path: "BrokerNodeGroupInfo/StorageInfo/EBSStorageInfo/VolumeSize"},
	// topicPartitions and topicReplicationFactor go to AWS::MSK::Topic, which the registry
	// snapshot lacks (the service spec states no limits for it).
	{Key: "apiRateLimit", Type: "AWS::ApiGateway::UsagePlan", Path: "Throttle/RateLimit"},
	{Key: "apiBurstLimit", Type: "AWS::ApiGateway::UsagePlan", Path: "Throttle/BurstLimit"},
	{Key: "mskInstanceType", Type: "AWS::MSK::Cluster", Path: "BrokerNodeGroupInfo/InstanceType",
		// The registry's InstanceType is 5 to 32 characters: a longer value must be refused.
		Strings: []string{"kafka.t3.small", "kafka.m5.large", "kafka.m7g.xlarge", "kafka.x.y", "kafka.t3.smallsmallsmallsmallsmall1", "kafka.m7g.48xlarge-with-a-long-suffix"}},
	{Key: "mwaaEnvironmentClass", Type: "AWS::MWAA::Environment", Path: "EnvironmentClass",
		Strings: []string{"mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge", "mw2.small", ""}},
	{Key: "kinesisCapacityMode", Type: "AWS::Kinesis::Stream", Path: "StreamModeDetails/StreamMode",
		Strings: []string{"PROVISIONED", "ON_DEMAND", "on_demand", "Provisioned", "BURST", ""}},
}

// mapGetter is a context of a few keys, for probing stacks.LoadConfig.
type mapGetter map[string]interface{}

func (m mapGetter) TryGetContext(key *string) interface{} { return m[*key] }

// GetAllContext is every key of the context (stacks.LoadConfig refuses keys it does not know).
func (m mapGetter) GetAllContext(*map[string]interface{}) interface{} {
	return map[string]interface{}(m)
}

// intProbes are the values tried for an integer key: every value up to 2,000 and a few beyond.
func intProbes() []int {
	out := []int{-1}
	for i := 0; i <= 2000; i++ {
		out = append(out, i)
	}
	return append(out, 4096, 5000, 10000, 10001, 16384, 16385, 100000, 1<<20)
}

// TestRehearsalConfigRanges: every value the configuration accepts for a key that lands in a
// resource property must be one the property's registry schema accepts (enum, minimum,
// maximum, pattern, length) — the configuration may be stricter, never looser.
func TestRehearsalConfigRanges(t *testing.T) {
	rules := loadRules(t)
	base := synthConfig(t, rehearsalConfig{Name: "default"})
	if base == nil {
		return
	}
	d := Deploy(t, rules, base, fakeAccount, fakeRegion)
	var findings []Finding
	probed, accepted := 0, 0
	for _, m := range configSchemaMap {
		s, err := rules.Schema(m.Type)
		if err != nil || s == nil {
			t.Errorf("%s: no registry schema of %s (%v)", m.Key, m.Type, err)
			continue
		}
		// The mapping holds: the default synthesis carries the key's default at the path.
		def := stacksDefault(t, m.Key)
		found := false
		for _, sn := range d.StackNames() {
			ds := d.Stack(sn)
			for id, r := range ds.Resources() {
				if r["Type"] == m.Type && scalarString(lookupPath(ds.PropsMap(id), m.Path)) == scalarString(def) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("configSchemaMap is stale: no %s of the default synthesis has %s = %v (the default of %s)", m.Type, m.Path, def, m.Key)
			continue
		}
		node := schemaNodeAt(s, m.Path)
		if node == nil {
			t.Errorf("%s: the registry schema of %s has no property %s", m.Key, m.Type, m.Path)
			continue
		}
		var values []interface{}
		if m.Strings != nil {
			// The candidates, and every value the key's enum tag accepts.
			for _, v := range append(append([]string{}, m.Strings...), configEnum(t, m.Key)...) {
				values = append(values, v)
			}
		} else {
			for _, v := range intProbes() {
				values = append(values, float64(v))
			}
		}
		var bad []string
		var rule string
		for _, v := range values {
			probed++
			cfg, err := stacks.LoadConfig(mapGetter{m.Key: v})
			if err != nil {
				continue
			}
			accepted++
			v = configValue(t, cfg, m.Key) // as the configuration normalizes it
			ch := &schemaChecker{rules: rules, d: d, stats: &schemaStats{Types: map[string]bool{}}, doc: s, ds: d.Stack(d.StackNames()[0])}
			if fs := ch.check(node, v, "Properties/"+m.Path); len(fs) > 0 {
				bad = append(bad, scalarString(v))
				rule = fs[0].Rule
			}
		}
		if len(bad) > 0 {
			findings = append(findings, Finding{Check: "config", Stack: "cdk.json", LogicalID: "context " + m.Key, Type: m.Type, Path: "Properties/" + m.Path,
				Rule: fmt.Sprintf("the configuration accepts %s, which the registry schema rejects (%s)", compactList(bad), rule)})
		}
	}
	t.Logf("rehearsal config ranges: %d context keys mapped to resource properties; %d values probed through stacks.LoadConfig, %d accepted and checked against the registry schema",
		len(configSchemaMap), probed, accepted)
	reportFindings(t, "context values against the registry schemas", findings)
}

// configEnum are the values the enum tag of a context key's field lists (nil without one).
func configEnum(t *testing.T, key string) []string {
	ty := reflect.TypeOf(stacks.Config{})
	for i := 0; i < ty.NumField(); i++ {
		if ty.Field(i).Tag.Get("ctx") == key {
			if e := ty.Field(i).Tag.Get("enum"); e != "" {
				return strings.Split(e, ",")
			}
			return nil
		}
	}
	t.Fatalf("no context key %s in stacks.Config", key)
	return nil
}

// stacksDefault is the default of a context key (stacks.DefaultConfig, by its ctx tag).
func stacksDefault(t *testing.T, key string) interface{} {
	return configValue(t, stacks.DefaultConfig(), key)
}

// configValue is the value of the field of c with context key key (ints as float64, as JSON).
func configValue(t *testing.T, c stacks.Config, key string) interface{} {
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("ctx") == key {
			if v.Field(i).Kind() == reflect.Int {
				return float64(v.Field(i).Int())
			}
			return v.Field(i).Interface()
		}
	}
	t.Fatalf("no context key %s in stacks.Config", key)
	return nil
}

// schemaNodeAt is the schema of the property at path (names below Properties).
func schemaNodeAt(s *cfnSchema, path string) map[string]interface{} {
	ch := &schemaChecker{doc: s}
	node := map[string]interface{}{"properties": s.Properties}
	for _, p := range strings.Split(path, "/") {
		node = asMap(asMap(ch.deref(node)["properties"])[p])
		if node == nil {
			return nil
		}
	}
	return node
}

// compactList renders values, runs of consecutive integers as ranges.
func compactList(vals []string) string {
	var out []string
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) {
			a, errA := strconv.Atoi(vals[j])
			b, errB := strconv.Atoi(vals[j+1])
			if errA != nil || errB != nil || b != a+1 {
				break
			}
			j++
		}
		if j > i+1 {
			out = append(out, vals[i]+"…"+vals[j])
		} else {
			out = append(out, vals[i:j+1]...)
		}
		i = j + 1
	}
	return strings.Join(out, ", ")
}
