package stacks

import (
	"reflect"
	"strings"
	"testing"
)

// fakeContext is cdk.json context as the CDK hands it over: JSON types, or strings from -c.
type fakeContext map[string]interface{}

func (f fakeContext) TryGetContext(key *string) interface{} { return f[*key] }

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
		{fakeContext{"kafkaVersion": "3.5.0"}, "kafkaSha512"},
		{fakeContext{"kafkaVersion": "3.5.0", "kafkaSha512": sha(128)}, ""},
		{fakeContext{"kafkaVersion": "3.5.0", "allowUnpinnedDownloads": true}, ""},
		{fakeContext{"kafkaVersion": "3.9.1"}, ""},
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
	for v, d := range kafkaSHA512 {
		if !sha512RE.MatchString(strings.ToLower(d)) {
			t.Errorf("kafka %s: %q is not a SHA-512", v, d)
		}
	}
	for v, d := range confluentSHA256 {
		if !sha256RE.MatchString(d) {
			t.Errorf("confluent %s: %q is not a SHA-256", v, d)
		}
	}
	// Every release KafkaClientVersion installs for an MSK version line is pinned.
	for line, v := range kafkaClientReleases {
		if kafkaSHA512[v] == "" {
			t.Errorf("client %s for %s has no pin", v, line)
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
