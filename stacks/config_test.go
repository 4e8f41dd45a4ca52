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
		{"githubRepo", "just-a-name"},
		{"githubRepo", "owner/name/extra"},
		{"githubOidcProviderArn", "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}, // without githubRepo
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
	} {
		_, err := LoadConfig(tc.ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.ctx, err, tc.want)
		}
	}
}
