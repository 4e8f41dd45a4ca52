package stacks

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeContext is cdk.json context as the CDK hands it over: JSON types, or strings from -c.
type fakeContext map[string]interface{}

func (f fakeContext) TryGetContext(key *string) interface{} { return f[*key] }

func (f fakeContext) GetAllContext(*map[string]interface{}) interface{} {
	return map[string]interface{}(f)
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
	t.Setenv("CDK_DEFAULT_REGION", "us-east-1")
	c, err := LoadConfig(fakeContext{})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Account, want.Region = "123456789012", "us-east-1"
	if c != want {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	if c.UserID != "demo" || c.FlushSize != 1 || c.NatGateways != 1 || c.Scheduler != "mwaa" || c.Emulator {
		t.Errorf("defaults changed: %+v", c)
	}
}

func TestLoadConfigTypes(t *testing.T) {
	c, err := LoadConfig(fakeContext{
		"userId": "0ec858bf1407", "flushSize": "100", "natGateways": 2.0, "destroyData": "true",
		"emulator": false, "kinesisCapacityMode": "on_demand", "scheduler": "MWAA", "alarmEmail": "ops@example.com",
		"existingMskClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/pinterest/5f7a1b2c-0000-1111-2222-333344445555-2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != "0ec858bf1407" || c.FlushSize != 100 || c.NatGateways != 2 || !c.DestroyData || c.Emulator ||
		c.KinesisCapacityMode != "ON_DEMAND" || c.Scheduler != "mwaa" || c.ExistingMskClusterArn == "" || c.AlarmEmail != "ops@example.com" {
		t.Errorf("got %+v", c)
	}
}

// Every bad value is refused with an error naming its context key.
func TestLoadConfigNamesTheBadKey(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value interface{}
	}{
		{"userId", "Has Spaces"},
		{"userId", "a-very-long-user-id-indeed"},
		{"userId", 12.0},
		{"kafkaVersion", "latest"},
		{"existingMskClusterArn", "arn:aws:s3:::bucket"},
		{"mskInstanceType", "t3.small"},
		{"flushSize", 0.0},
		{"flushSize", "ten"},
		{"flushSize", 1.5},
		{"natGateways", 0.0},
		{"natGateways", 3.0},
		{"destroyData", "yes please"},
		{"kinesisCapacityMode", "SERVERLESS"},
		{"kinesisShards", 0.0},
		{"scheduler", "cron"},
		{"alarmEmail", "not an address"},
		{"mwaaEnvironmentClass", "mw2.huge"},
		{"connectorSha256", "abc"},
		{"connectorUrl", "http://example.com/x.zip"},
		{"connectorZipPath", "/no/such/file.zip"},
		{"confluentVersion", "7.6"},
		{"proxyInstanceType", "big"},
		{"topicReplicationFactor", 4.0},
		{"firehoseBufferSeconds", 901.0},
		{"apiRateLimit", -1.0},
		// What the services refuse (issue 9, finding 4): MSK Connect MCUs per worker are 1, 2,
		// 4 or 8; MSK creates clusters of the versions it lists; broker sizes are MSK's;
		// Firehose buffers 1-128 MiB for 0-900 s; MWAA has its classes.
		{"connectorMcuCount", 3.0},
		{"connectorMcuCount", "5"},
		{"connectorMcuCount", 6.0},
		{"connectorMcuCount", 7.0},
		{"connectorMcuCount", 16.0},
		{"connectorWorkers", 11.0},
		{"kafkaVersion", "3.7.1"},
		{"kafkaVersion", "2.8.1"},
		{"kafkaVersion", "3.5.1"},
		{"kafkaVersion", "4.0.x"},
		{"kafkaVersion", "4.2.x.kraft"},
		{"mskInstanceType", "kafka.t3.medium"},
		{"mskInstanceType", "express.m7g.large"},
		{"mskInstanceType", "kafka.m6g.large"},
		{"mwaaEnvironmentClass", "mw1.huge"},
		{"mwaaEnvironmentClass", "mw2.small"},
		{"firehoseBufferMiB", 0.0},
		{"firehoseBufferMiB", 129.0},
		{"firehoseBufferSeconds", -1.0},
		{"mskVolumeGiB", 16385.0},
		{"proxyInstanceType", "t3"},
		{"proxyInstanceType", "t3.Small"},
		{"proxyInstanceType", "mac2.metal"},
		{"proxyInstanceType", "t3.huge"},
		{"availabilityZones", "us-east-1a"},
		{"availabilityZones", "us-east-1a,us-east-1a"},
		{"availabilityZones", "us-east-1a,eu-west-1b"},
		{"availabilityZones", []interface{}{"us-east-1a"}},
		{"userId", "Team-A"},
		{"userId", "-team"},
		{"userId", "team_a"},
		{"userId", ""},
		{"topicReplicationFactor", 3.0}, // the created cluster has two brokers
		{"existingMskClusterArn", "arn:aws:kafka:us-east-1:123456789012:cluster/pinterest"},
		{"alarmEmail", "ops@"},
		{"githubRepo", "just-a-name"},
		{"githubRepo", "owner/name/extra"},
		{"githubOidcProviderArn", "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}, // without githubRepo
		// Longer than AWS::MSK::Cluster BrokerNodeGroupInfo.InstanceType's maxLength (32).
		{"mskInstanceType", "kafka.m7g.48xlarge-with-a-long-suffix"},
		// Issue 9, findings 11 and 13: digests of the right length, apiAuth key or iam.
		{"apiAuth", "cognito"},
		{"kafkaSha512", "98d20f47"},
		{"kafkaSha512", strings.Repeat("ab", 32)},
		{"confluentSha256", "not hex"},
		{"mskIamAuthSha256", strings.Repeat("0", 128)},
		{"allowUnpinnedDownloads", "sometimes"},
	} {
		_, err := LoadConfig(fakeContext{tc.key: tc.value})
		if err == nil {
			t.Errorf("%s=%v: accepted", tc.key, tc.value)
			continue
		}
		if !strings.Contains(err.Error(), `"`+tc.key+`"`) {
			t.Errorf("%s=%v: error does not name the key: %v", tc.key, tc.value, err)
		}
	}
}

// The GitHub OIDC provider to import must be in the account the stacks deploy to.
func TestGithubOidcProviderAccount(t *testing.T) {
	t.Setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
	arn := func(acct string) string {
		return "arn:aws:iam::" + acct + ":oidc-provider/token.actions.githubusercontent.com"
	}
	if _, err := LoadConfig(fakeContext{"githubRepo": "a/b", "githubOidcProviderArn": arn("123456789012")}); err != nil {
		t.Errorf("the deploy account's provider: %v", err)
	}
	_, err := LoadConfig(fakeContext{"githubRepo": "a/b", "githubOidcProviderArn": arn("210987654321")})
	if err == nil || !strings.Contains(err.Error(), `"githubOidcProviderArn"`) {
		t.Errorf("another account's provider: %v", err)
	}
}

// A version without a pinned checksum stops synth, naming the key that pins it, unless the
// user opts out with allowUnpinnedDownloads; the defaults are pinned (or, for the two whose
// publishers' values could not be read here, handled as README.md says).
func TestPinsRefuseUnpinnedVersions(t *testing.T) {
	fixture := "../test/testdata/connector-fixture.zip"
	sha := func(n int) string { return strings.Repeat("a1", n/2) }
	for _, tc := range []struct {
		ctx  fakeContext
		want string // the key the error names; "" = accepted
	}{
		{fakeContext{}, ""},
		{fakeContext{"kafkaVersion": "3.9.x"}, ""},
		{fakeContext{"kafkaVersion": "4.1.x.kraft", "kafkaSha512": sha(128)}, ""},
		{fakeContext{"confluentVersion": "7.7.0"}, "confluentSha256"},
		{fakeContext{"confluentVersion": "7.7.0", "confluentSha256": sha(64)}, ""},
		{fakeContext{"mskIamAuthVersion": "2.3.5"}, "mskIamAuthSha256"},
		{fakeContext{"mskIamAuthVersion": "2.3.5", "mskIamAuthSha256": sha(64)}, ""},
		{fakeContext{"connectorVersion": "10.5.0"}, "connectorSha256"},
		{fakeContext{"connectorUrl": "https://mirror.example/s3.zip"}, "connectorSha256"},
		{fakeContext{"connectorVersion": "10.5.0", "connectorSha256": sha(64)}, ""},
		{fakeContext{"connectorVersion": "10.5.0", "connectorZipPath": fixture}, ""},
		{fakeContext{"connectorVersion": "10.5.0", "allowUnpinnedDownloads": "true"}, ""},
	} {
		_, err := LoadConfig(tc.ctx)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.ctx, err)
		case tc.want != "" && err == nil:
			t.Errorf("%v: accepted without a checksum", tc.ctx)
		case tc.want != "" && (!strings.Contains(err.Error(), `"`+tc.want+`"`) || !strings.Contains(err.Error(), "allowUnpinnedDownloads")):
			t.Errorf("%v: error names neither %s nor the opt-out: %v", tc.ctx, tc.want, err)
		}
	}
}

func TestDownloads(t *testing.T) {
	c := DefaultConfig()
	k, cf, iam := c.KafkaDownload(), c.ConfluentDownload(), c.MskIamAuthDownload()
	if k.URL != "https://archive.apache.org/dist/kafka/3.6.0/kafka_2.13-3.6.0.tgz" || k.Algo != SHA512 ||
		k.Digest != "98d20f475bccc11eb3cf05362112c788eea7bfc88abddba66cfcfb48880d3bb97918a90d44eb7c1720527bebca93dd231002b5159876f6ee8b7fcd91cc1b0644" {
		t.Errorf("kafka %+v", k)
	}
	if cf.URL != "https://packages.confluent.io/archive/7.6/confluent-community-7.6.1.tar.gz" || cf.Algo != SHA256 ||
		cf.Digest != "ae9a81f3cc914a21b977abeff1fa4778bf79a2c2dc8f5fc822e2da15d960bb92" || cf.ChecksumURL != "" {
		t.Errorf("confluent %+v", cf)
	}
	if iam.Digest != "" || iam.ChecksumURL != iam.URL+".sha256" ||
		iam.URL != "https://github.com/aws/aws-msk-iam-auth/releases/download/v2.3.2/aws-msk-iam-auth-2.3.2-all.jar" {
		t.Errorf("aws-msk-iam-auth %+v", iam)
	}
	c.MskIamAuthSha256 = strings.Repeat("c", 64)
	if d := c.MskIamAuthDownload(); d.Digest != c.MskIamAuthSha256 {
		t.Errorf("mskIamAuthSha256 not used: %+v", d)
	}
	// A key overrides the table.
	c.KafkaSha512 = strings.Repeat("b", 128)
	if d := c.KafkaDownload(); d.Digest != c.KafkaSha512 {
		t.Errorf("kafkaSha512 not used: %+v", d)
	}
	// MSK's x-versions install a concrete client release.
	for v, want := range map[string]string{"3.6.0": "3.6.0", "3.7.x": "3.7.2", "3.8.x.kraft": "3.8.1", "3.9.x": "3.9.1", "4.1.x.kraft": "4.1.0"} {
		c.KafkaVersion = v
		if got := c.KafkaClientVersion(); got != want {
			t.Errorf("kafkaVersion %s: client %s, want %s", v, got, want)
		}
	}
	sha512RE, sha256RE := settingOf(t, "kafkaSha512").re, settingOf(t, "confluentSha256").re
	for v, d := range kafkaSHA512 {
		if !sha512RE.MatchString(d) {
			t.Errorf("kafka %s: %q is not a SHA-512", v, d)
		}
	}
	for v, d := range confluentSHA256 {
		if !sha256RE.MatchString(d) {
			t.Errorf("confluent %s: %q is not a SHA-256", v, d)
		}
	}
	// Every kafkaVersion the config accepts installs a pinned client, and no pin is for a client
	// no accepted kafkaVersion installs.
	installed := map[string]bool{}
	for _, v := range strings.Split(settingOf(t, "kafkaVersion").enum, ",") {
		c.KafkaVersion = v
		installed[c.KafkaClientVersion()] = true
		if kafkaSHA512[c.KafkaClientVersion()] == "" {
			t.Errorf("kafkaVersion %s installs client %s, which has no pin", v, c.KafkaClientVersion())
		}
	}
	for v := range kafkaSHA512 {
		if !installed[v] {
			t.Errorf("kafka %s is pinned but no accepted kafkaVersion installs it", v)
		}
	}
}

func TestConnectorDownloadURL(t *testing.T) {
	c := DefaultConfig()
	if got := c.ConnectorDownloadURL(); !strings.HasSuffix(got, "/versions/10.0.3/confluentinc-kafka-connect-s3-10.0.3.zip") {
		t.Errorf("got %s", got)
	}
	c.ConnectorURL = "https://mirror.example/s3.zip"
	if got := c.ConnectorDownloadURL(); got != c.ConnectorURL {
		t.Errorf("got %s", got)
	}
}

// Every context key is the field name in lowerCamelCase (Url/Sha256 aside), and unique, so the
// README table and cdk.json read like the code.
func TestConfigContextKeys(t *testing.T) {
	seen := map[string]bool{}
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		key := f.Tag.Get("ctx")
		if key == "" {
			if f.Name != "Account" && f.Name != "Region" {
				t.Errorf("field %s has no context key", f.Name)
			}
			continue
		}
		if seen[key] {
			t.Errorf("context key %q used twice", key)
		}
		seen[key] = true
		if !strings.EqualFold(key, f.Name) || key[0] != strings.ToLower(f.Name[:1])[0] {
			t.Errorf("field %s has context key %q", f.Name, key)
		}
	}
	// Each key is read: a wrong type is reported under its name.
	for key := range seen {
		if _, err := LoadConfig(fakeContext{key: []int{1}}); err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("context %q is not read: %v", key, err)
		}
	}
}

// Any string for any key (as `-c key=value` gives) is accepted or refused with an error naming
// a key; never a panic.
func FuzzLoadConfig(f *testing.F) {
	typ := reflect.TypeOf(Config{})
	var keys []string
	for i := 0; i < typ.NumField(); i++ {
		if k := typ.Field(i).Tag.Get("ctx"); k != "" {
			keys = append(keys, k)
		}
	}
	for _, seed := range []string{"", "0", "-1", "1e9", "true", "demo", " 42 ", "arn:aws:kafka:us-east-1:123456789012:cluster/a/b", "ON_DEMAND"} {
		f.Add(uint8(0), seed)
	}
	f.Fuzz(func(t *testing.T, k uint8, value string) {
		key := keys[int(k)%len(keys)]
		_, err := LoadConfig(fakeContext{key: value})
		if err != nil && !strings.Contains(err.Error(), "context \"") {
			t.Errorf("%s=%q: error names no key: %v", key, value, err)
		}
	})
}

// Values the services accept are accepted, and enum spellings are normalised.
func TestLoadConfigAcceptsWhatServicesAccept(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value interface{}
		check func(Config) bool
	}{
		{"userId", "team-a", func(c Config) bool { return c.UserID == "team-a" }},
		{"userId", "0ec858bf1407", func(c Config) bool { return c.UserID == "0ec858bf1407" }},
		{"userId", "a", func(c Config) bool { return c.UserID == "a" }},
		{"userId", "abcdefghijklmnop", func(c Config) bool { return c.UserID == "abcdefghijklmnop" }},
		{"kafkaVersion", "3.7.x", func(c Config) bool { return c.KafkaClientVersion() == "3.7.2" }},
		{"kafkaVersion", "3.8.X", func(c Config) bool { return c.KafkaVersion == "3.8.x" && c.KafkaClientVersion() == "3.8.1" }},
		{"kafkaVersion", "3.9.x.kraft", func(c Config) bool { return c.KafkaClientVersion() == "3.9.1" }},
		{"kafkaVersion", "4.0.x.kraft", func(c Config) bool { return c.KafkaClientVersion() == "4.0.0" }},
		{"kafkaVersion", "3.6.0", func(c Config) bool { return c.KafkaClientVersion() == "3.6.0" }},
		{"connectorMcuCount", 2.0, func(c Config) bool { return c.ConnectorMcuCount == 2 }},
		{"connectorMcuCount", "4", func(c Config) bool { return c.ConnectorMcuCount == 4 }},
		{"connectorMcuCount", 8.0, func(c Config) bool { return c.ConnectorMcuCount == 8 }},
		{"mskInstanceType", "kafka.m7g.large", func(c Config) bool { return c.MskInstanceType == "kafka.m7g.large" }},
		{"mwaaEnvironmentClass", "MW1.MICRO", func(c Config) bool { return c.MwaaEnvironmentClass == "mw1.micro" }},
		{"proxyInstanceType", "t4g.small", func(c Config) bool { return c.ProxyInstanceType == "t4g.small" }},
		{"proxyInstanceType", "m7i-flex.large", func(c Config) bool { return c.ProxyInstanceType == "m7i-flex.large" }},
		{"proxyInstanceType", "c7gd.16xlarge", func(c Config) bool { return true }},
		{"firehoseBufferSeconds", 0.0, func(c Config) bool { return c.FirehoseBufferSeconds == 0 }},
		{"firehoseBufferMiB", 128.0, func(c Config) bool { return c.FirehoseBufferMiB == 128 }},
		{"availabilityZones", "us-east-1a,us-east-1b", func(c Config) bool { return len(c.AZs()) == 2 }},
		{"availabilityZones", []interface{}{"eu-west-1b", "eu-west-1c"}, func(c Config) bool { return c.AZs()[1] == "eu-west-1c" }},
		{"apiGatewayCloudWatchRole", "false", func(c Config) bool { return !c.ApiGatewayCloudWatchRole }},
	} {
		c, err := LoadConfig(fakeContext{tc.key: tc.value})
		if err != nil {
			t.Errorf("%s=%v: %v", tc.key, tc.value, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%s=%v: got %+v", tc.key, tc.value, c)
		}
	}
}

// A key pinpipe does not know stops the synth, naming the key and the known key nearest to it;
// CDK's own keys (feature flags, lookups, the CLI's) pass.
func TestLoadConfigRefusesUnknownKeys(t *testing.T) {
	for _, tc := range []struct{ key, near string }{
		{"userdId", "userId"},
		{"userid", "userId"},
		{"flushsize", "flushSize"},
		{"flushSzie", "flushSize"},
		{"connectorMcu", "connectorMcuCount"},
		{"firehoseBufferMib", "firehoseBufferMiB"},
		{"kafkaVerison", "kafkaVersion"},
		{"schedular", "scheduler"},
		{"emulater", "emulator"},
		{"something-else-entirely", ""},
	} {
		_, err := LoadConfig(fakeContext{tc.key: "x"})
		if err == nil {
			t.Errorf("%s: accepted", tc.key)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"`+tc.key+`"`) {
			t.Errorf("%s: error does not name the key: %v", tc.key, err)
		}
		if tc.near != "" && !strings.Contains(msg, `did you mean "`+tc.near+`"`) {
			t.Errorf("%s: error does not suggest %q: %v", tc.key, tc.near, err)
		}
		if tc.near == "" && !strings.Contains(msg, "known: userId") {
			t.Errorf("%s: error does not list the known keys: %v", tc.key, err)
		}
	}
	cdk := fakeContext{
		"@aws-cdk/aws-iam:minimizePolicies":                          true,
		"aws:cdk:enable-path-metadata":                               true,
		"aws:cdk:bundling-stacks":                                    []interface{}{"**"},
		"availability-zones:account=123456789012:region=eu-west-1":   []interface{}{"eu-west-1a"},
		"acknowledged-issue-numbers":                                 []interface{}{32775.0},
		"cli-telemetry":                                              false,
		"cdk-migrate":                                                true,
		"ssm:account=123456789012:parameterName=/x:region=eu-west-1": "v",
	}
	if _, err := LoadConfig(cdk); err != nil {
		t.Errorf("CDK's own context refused: %v", err)
	}
}

// The configuration with every key absent is valid, and each key's default is its tag's.
func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.KafkaVersion != "3.6.0" || c.ConnectorMcuCount != 1 || !c.ManageTopics || !c.ApiGatewayCloudWatchRole || c.AvailabilityZones != "" {
		t.Errorf("defaults changed: %+v", c)
	}
}

// Every key has an example: a valid value other than its default. The CDK tests synthesize with
// all of them at once, so they are loaded here together too.
func TestContextExamples(t *testing.T) {
	def := DefaultConfig()
	ctx := fakeContext{}
	for key, ex := range ContextExamples() {
		if ex == "" {
			t.Errorf("context %q has no example tag", key)
		}
		if key != "connectorZipPath" { // a path relative to the repository root; the CDK tests check it
			ctx[key] = ex
		}
	}
	c, err := LoadConfig(ctx)
	if err != nil {
		t.Fatalf("the examples together: %v", err)
	}
	v, d := reflect.ValueOf(c), reflect.ValueOf(def)
	for _, s := range settings {
		if s.key != "connectorZipPath" && v.Field(s.index).Interface() == d.Field(s.index).Interface() {
			t.Errorf("example of %q is its default", s.key)
		}
	}
}

// An error names where the bad value came from: cdk.json, or -c on the command line.
func TestLoadConfigNamesTheSource(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(filepath.Join(dir, "cdk.json"), []byte(`{"context":{"flushSize":"ten","natGateways":1}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ctx  fakeContext
		want string
	}{
		{fakeContext{"flushSize": "ten"}, `cdk.json: context "flushSize": want a whole number`},
		{fakeContext{"flushSize": "eleven"}, `the command line (-c flushSize=eleven): context "flushSize": want a whole number`},
		{fakeContext{"natGateways": "5"}, `the command line (-c natGateways=5): context "natGateways": 5 is out of range [1, 2]`},
		{fakeContext{"natGateways": 1.0, "scheduler": "cron"}, `the command line (-c scheduler=cron): context "scheduler"`},
		{fakeContext{"userdId": "x"}, `the command line (-c userdId=x): context "userdId": not a pinpipe setting; did you mean "userId"?`},
	} {
		_, err := LoadConfig(tc.ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.ctx, err, tc.want)
		}
	}
}

// settingOf is the context key's setting (its tags).
func settingOf(t *testing.T, key string) setting {
	t.Helper()
	for _, s := range settings {
		if s.key == key {
			return s
		}
	}
	t.Fatalf("no context key %q", key)
	return setting{}
}
