// Package stacks declares the pinpipe pipeline on AWS: one file per stack, stateful resources
// (network, storage, Kafka) apart from the stateless ones that can be re-created at will, all
// configured by one Config read from cdk.json context.
package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/record"
)

// Config is the whole configuration of the CDK app. Each field with a `ctx` tag is one context
// key (cdk.json "context", or `cdk synth -c key=value`); the other tags say what the key
// accepts, so that adding a key is adding one field:
//
//	default:"…"  the value when the key is absent (parsed like a -c value; none: the zero value)
//	enum:"a,b"   the values the service accepts (strings match case-insensitively and take the
//	             spelling listed here)
//	range:"lo,hi" the whole numbers the service accepts, inclusive
//	pattern:"…"  a regular expression a non-empty string must match
//	want:"…"     what a good value looks like, for the error message
//	example:"…"  a valid value other than the default (the tests synthesize with every example)
//
// Rules that span several keys, or need more than a tag, are in Validate.
type Config struct {
	// UserID names everything: topics <userId>.pin|geo|user, streams streaming-<userId>-…,
	// buckets and stacks. Lower-case letters, digits and '-' (not first). Default "demo".
	UserID string `ctx:"userId" default:"demo" pattern:"^[a-z0-9][a-z0-9-]{0,15}$" want:"1 to 16 lower-case letters, digits and '-' (not first); it goes into bucket names, which hold at most 63 characters" example:"team-a"`
	// Account and Region come from CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION (set by the CDK CLI
	// from the active AWS profile). Empty means an environment-agnostic synth.
	Account string
	Region  string

	// KafkaVersion of the MSK cluster: a version MSK creates clusters with (Supported Apache
	// Kafka versions, MSK developer guide; the .kraft variants run without ZooKeeper). The
	// proxy's Kafka client is the Apache Kafka release of that line (KafkaClientVersion).
	KafkaVersion string `ctx:"kafkaVersion" default:"3.6.0" enum:"3.6.0,3.7.x,3.7.x.kraft,3.8.x,3.8.x.kraft,3.9.x,3.9.x.kraft,4.0.x.kraft,4.1.x.kraft" want:"an Apache Kafka version MSK creates standard-broker clusters with" example:"3.9.x.kraft"`
	// ExistingMskClusterArn imports that cluster instead of creating one. It must be reachable
	// from the pinpipe VPC on port 9098 (IAM auth) and have IAM client authentication on.
	ExistingMskClusterArn string `ctx:"existingMskClusterArn" pattern:"^arn:aws[a-z-]*:kafka:[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\\d:\\d{12}:cluster/[A-Za-z0-9][A-Za-z0-9-]{0,63}/[A-Za-z0-9-]+$" want:"an MSK cluster ARN, arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>" example:"arn:aws:kafka:us-east-1:123456789012:cluster/pinterest-msk-cluster/5f7a1b2c-0000-1111-2222-333344445555-2"`
	// MskInstanceType of the two brokers of a created cluster: an MSK standard broker size
	// (express.* brokers take no EBS volume and need three AZs).
	MskInstanceType string `ctx:"mskInstanceType" default:"kafka.t3.small" enum:"kafka.t3.small,kafka.m5.large,kafka.m5.xlarge,kafka.m5.2xlarge,kafka.m5.4xlarge,kafka.m5.8xlarge,kafka.m5.12xlarge,kafka.m5.16xlarge,kafka.m5.24xlarge,kafka.m7g.large,kafka.m7g.xlarge,kafka.m7g.2xlarge,kafka.m7g.4xlarge,kafka.m7g.8xlarge,kafka.m7g.12xlarge,kafka.m7g.16xlarge" want:"an MSK standard broker size" example:"kafka.m7g.large"`
	// MskVolumeGiB is the EBS volume of each broker (MSK: 1 GiB to 16 TiB).
	MskVolumeGiB int `ctx:"mskVolumeGiB" default:"10" range:"1,16384" example:"20"`
	// ManageTopics declares the three topics (AWS::MSK::Topic). Turn it off for an existing
	// cluster that already has them.
	ManageTopics bool `ctx:"manageTopics" default:"true" example:"false"`
	// TopicPartitions and TopicReplicationFactor of the declared topics.
	TopicPartitions        int `ctx:"topicPartitions" default:"1" range:"1,1000" example:"3"`
	TopicReplicationFactor int `ctx:"topicReplicationFactor" default:"2" range:"1,3" example:"1"`
	// AvailabilityZones, when set, are the two AZs of the VPC (comma-separated names, e.g.
	// "us-east-1a,us-east-1b"); default: the region's first two. Not every AZ offers every MSK
	// broker size (README: account prerequisites).
	AvailabilityZones string `ctx:"availabilityZones" pattern:"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\\d[a-z],[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\\d[a-z]$" want:"two Availability Zone names, comma-separated, like us-east-1a,us-east-1b" example:"us-east-1a,us-east-1c"`

	// ProxyInstanceType of the Kafka client / REST proxy instance; Graviton types (t4g, m7g, …)
	// get the arm64 image.
	ProxyInstanceType string `ctx:"proxyInstanceType" default:"t3.small" pattern:"^[a-z][a-z0-9]*(-[a-z0-9]+)*\\.(nano|micro|small|medium|large|xlarge|[1-9][0-9]*xlarge|metal|metal-[0-9]+xl)$" want:"an EC2 instance type like t3.small or t4g.small (not a mac type)" example:"t4g.small"`
	// ConfluentVersion of the Confluent Community package that provides the REST proxy.
	ConfluentVersion string `ctx:"confluentVersion" default:"7.6.1" pattern:"^\\d+\\.\\d+\\.\\d+$" want:"a version like 7.6.1" example:"7.7.1"`
	// MskIamAuthVersion of aws-msk-iam-auth, the SASL mechanism AWS_MSK_IAM for Java clients.
	// 2.3.2's release carries the .sha256 of its jar, which the boot checks the jar against.
	MskIamAuthVersion string `ctx:"mskIamAuthVersion" default:"2.3.2" pattern:"^\\d+\\.\\d+\\.\\d+$" want:"a version like 2.3.2" example:"2.3.0"`
	// KafkaSha512, ConfluentSha256 and MskIamAuthSha256 pin what the proxy host installs as root
	// (hex digests of the Kafka client archive, the Confluent Community archive and the
	// aws-msk-iam-auth jar). Empty means the pin in pins.go for the version, if there is one; a
	// version without one is refused unless allowUnpinnedDownloads is true. kafkaSha512's example
	// is Apache's digest of kafka_2.13-3.9.1.tgz (the client of the example kafkaVersion); the
	// two SHA-256 examples only have the right shape.
	KafkaSha512      string `ctx:"kafkaSha512" pattern:"^[0-9a-fA-F]{128}$" want:"a SHA-512: 128 hexadecimal digits" example:"1ea204ba73411737a275429ca976d440f007ff0957b90b19be41dc5a4bae52617267769be9f0b5791714d0b3c4c760605bd426faea39edd90763585523fa2cfe"`
	ConfluentSha256  string `ctx:"confluentSha256" pattern:"^[0-9a-fA-F]{64}$" want:"a SHA-256: 64 hexadecimal digits" example:"9f6b0b1e0b6f3d0c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"`
	MskIamAuthSha256 string `ctx:"mskIamAuthSha256" pattern:"^[0-9a-fA-F]{64}$" want:"a SHA-256: 64 hexadecimal digits" example:"3c1f0e7d9a2b4c6d8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"`
	// AllowUnpinnedDownloads accepts versions that have no pinned checksum: they are checked at
	// boot against the checksum file their publisher puts beside them, where there is one.
	AllowUnpinnedDownloads bool `ctx:"allowUnpinnedDownloads" default:"false" example:"true"`

	// ConnectorVersion of the Confluent S3 sink connector, downloaded by the deploy-time Lambda.
	ConnectorVersion string `ctx:"connectorVersion" default:"10.0.3" pattern:"^\\d+\\.\\d+\\.\\d+$" want:"a version like 10.0.3" example:"10.5.0"`
	// ConnectorURL overrides the download URL derived from ConnectorVersion.
	ConnectorURL string `ctx:"connectorUrl" pattern:"^https://[^\\s']+$" want:"an https:// URL" example:"https://mirror.example.com/confluentinc-kafka-connect-s3-10.5.0.zip"`
	// ConnectorSha256, when set, must match the downloaded zip (hex) or the deployment fails. It
	// is required for a non-default connectorVersion or connectorUrl (see pins.go).
	ConnectorSha256 string `ctx:"connectorSha256" pattern:"^[0-9a-fA-F]{64}$" want:"a SHA-256: 64 hexadecimal digits" example:"0f343b0931126a20f133d67c2b018a3b7f3e5b1f1e4d7c2a9b8c6d5e4f3a2b1c"`
	// ConnectorZipPath is a local connector zip uploaded as an asset instead of downloading one.
	ConnectorZipPath string `ctx:"connectorZipPath" want:"a readable .zip file" example:"test/testdata/connector-fixture.zip"`
	// FlushSize is the S3 sink's flush.size: records per object. The seed uses 1.
	FlushSize int `ctx:"flushSize" default:"1" range:"1,1000000" example:"10"`
	// ConnectorMcuCount and ConnectorWorkers size the MSK Connect connector: MCUs per worker
	// (MSK Connect offers 1, 2, 4 or 8) and workers (1 to 10).
	ConnectorMcuCount int `ctx:"connectorMcuCount" default:"1" enum:"1,2,4,8" want:"MCUs per worker that MSK Connect offers" example:"2"`
	ConnectorWorkers  int `ctx:"connectorWorkers" default:"1" range:"1,10" example:"2"`

	// KinesisCapacityMode is PROVISIONED (KinesisShards shards per stream) or ON_DEMAND.
	KinesisCapacityMode string `ctx:"kinesisCapacityMode" default:"PROVISIONED" enum:"PROVISIONED,ON_DEMAND" example:"ON_DEMAND"`
	KinesisShards       int    `ctx:"kinesisShards" default:"1" range:"1,500" example:"2"`

	// ApiAuth is how callers of the API's data routes authenticate: "key" (an API key in
	// x-api-key, as the original pipeline) or "iam" (requests signed with SigV4, AWS_IAM).
	ApiAuth string `ctx:"apiAuth" default:"key" enum:"key,iam" want:"key (an API key) or iam (SigV4-signed requests)" example:"iam"`
	// ApiRateLimit and ApiBurstLimit throttle the API key's usage plan (requests per second);
	// API Gateway's account-level defaults (10,000 and 5,000) are the ceiling.
	ApiRateLimit  int `ctx:"apiRateLimit" default:"100" range:"1,10000" example:"50"`
	ApiBurstLimit int `ctx:"apiBurstLimit" default:"200" range:"1,5000" example:"100"`
	// ApiGatewayCloudWatchRole declares the account's API Gateway CloudWatch Logs role (the
	// Pinpipe-Account stack), which stage logging needs. Turn it off when the account already has
	// one (`aws apigateway get-account` shows a cloudwatchRoleArn).
	ApiGatewayCloudWatchRole bool `ctx:"apiGatewayCloudWatchRole" default:"true" example:"false"`

	// NatGateways in the VPC: 1 (default, cheapest) or 2 (one per AZ, no single point). The
	// proxy instance downloads its software and reaches AWS APIs through a NAT gateway.
	NatGateways int `ctx:"natGateways" default:"1" range:"1,2" example:"2"`
	// DestroyData makes `cdk destroy` delete buckets (with their objects) and streams. Default
	// false: stateful resources are retained.
	DestroyData bool `ctx:"destroyData" default:"false" example:"true"`

	// Scheduler runs the daily batch job: "mwaa" (default: Airflow, as the seed) or
	// "eventbridge" (EventBridge Scheduler, the cheap option). Used by the processing stacks.
	Scheduler string `ctx:"scheduler" default:"mwaa" enum:"mwaa,eventbridge" example:"eventbridge"`
	// AnalysisEngine runs the eight analyses of the daily batch job: "duckdb" (default: the
	// Fargate task cleans and analyses) or "athena" (the task only cleans; Athena runs the
	// analyses over the clean Glue tables, from the DAG or a Step Functions state machine).
	AnalysisEngine string `ctx:"analysisEngine" default:"duckdb" enum:"duckdb,athena" want:"duckdb (the batch task analyses) or athena (the task cleans, Athena analyses)" example:"athena"`
	// Emulator deploys the posting emulator on a schedule (processing stacks). Default false:
	// nothing posts data, and costs accrue, until a user asks for it.
	Emulator bool `ctx:"emulator" default:"false" example:"true"`
	// MwaaEnvironmentClass sizes the Airflow environment when scheduler is mwaa.
	MwaaEnvironmentClass string `ctx:"mwaaEnvironmentClass" default:"mw1.small" enum:"mw1.micro,mw1.small,mw1.medium,mw1.large,mw1.xlarge,mw1.2xlarge" want:"an MWAA environment class" example:"mw1.micro"`
	// AlarmEmail, when set, is subscribed to the alarm topic (the address confirms by mail).
	AlarmEmail string `ctx:"alarmEmail" pattern:"^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$" want:"an e-mail address" example:"ops@example.com"`
	// FirehoseBufferSeconds and FirehoseBufferMiB bound the Firehose delivery of cleaned stream
	// records into Iceberg (Firehose BufferingHints: 0 to 900 s, 1 to 128 MiB).
	FirehoseBufferSeconds int `ctx:"firehoseBufferSeconds" default:"60" range:"0,900" example:"0"`
	FirehoseBufferMiB     int `ctx:"firehoseBufferMiB" default:"5" range:"1,128" example:"64"`

	// GithubRepo ("owner/name"), when set, adds the stack Pinpipe-GitHubOidc: a role that the
	// repository's pull-request workflows assume through GitHub's OIDC provider to run cdk diff.
	GithubRepo string `ctx:"githubRepo" pattern:"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9_.-]{1,100}$" want:"owner/name of a GitHub repository" example:"pinpipe/pinpipe"`
	// GithubOidcProviderArn imports the account's GitHub OIDC provider (one per account) instead
	// of creating it.
	GithubOidcProviderArn string `ctx:"githubOidcProviderArn" pattern:"^arn:aws[a-z-]*:iam::\\d{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$" want:"arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com" example:"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"`
}

// Values of the apiAuth context key.
const (
	ApiAuthKey = "key"
	ApiAuthIAM = "iam"
)

// ContextGetter is what LoadConfig reads: constructs.Node satisfies it (app.Node()).
type ContextGetter interface {
	TryGetContext(key *string) interface{}
	// GetAllContext returns every context key, so that unknown ones can be refused.
	GetAllContext(defaults *map[string]interface{}) interface{}
}

var _ ContextGetter = constructs.Node(nil)

// setting is one context key: its field and what it accepts.
type setting struct {
	key, def, enum, rng, pattern, want, example string
	index                                       int
	re                                          *regexp.Regexp
}

// settings are the context keys of Config, read from its tags once.
var settings = func() []setting {
	var out []setting
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("ctx")
		if key == "" {
			continue
		}
		s := setting{key: key, index: i, def: f.Tag.Get("default"), enum: f.Tag.Get("enum"),
			rng: f.Tag.Get("range"), pattern: f.Tag.Get("pattern"), want: f.Tag.Get("want"), example: f.Tag.Get("example")}
		if s.pattern != "" {
			s.re = regexp.MustCompile(s.pattern)
		}
		out = append(out, s)
	}
	return out
}()

// ContextKeys are the context keys pinpipe reads, in Config's order.
func ContextKeys() []string {
	keys := make([]string, len(settings))
	for i, s := range settings {
		keys[i] = s.key
	}
	return keys
}

// ContextExamples are a valid value, other than the default, of every context key, as
// `-c key=value` would give it (the example tags).
func ContextExamples() map[string]string {
	out := map[string]string{}
	for _, s := range settings {
		out[s.key] = s.example
	}
	return out
}

// DefaultConfig is the configuration with every context key absent.
func DefaultConfig() Config {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	for _, s := range settings {
		if s.def == "" {
			continue
		}
		if err := setFromContext(v.Field(s.index), s.def); err != nil {
			panic(fmt.Sprintf("stacks.Config: default of %q: %v", s.key, err))
		}
	}
	return c
}

// LoadConfig reads the context of node over DefaultConfig and the environment, and validates it.
// Errors name the context key at fault; a key pinpipe does not know is refused, with the known
// key nearest to it.
func LoadConfig(node ContextGetter) (Config, error) {
	c := DefaultConfig()
	c.Account = os.Getenv("CDK_DEFAULT_ACCOUNT")
	c.Region = os.Getenv("CDK_DEFAULT_REGION")
	if err := unknownKeys(node); err != nil {
		return c, err
	}
	var errs []string
	v := reflect.ValueOf(&c).Elem()
	for _, s := range settings {
		key := s.key
		value := node.TryGetContext(&key)
		if err := setFromContext(v.Field(s.index), value); err != nil {
			errs = append(errs, (&ConfigError{Key: key, Problem: err.Error(), Source: contextSource(key, value)}).Error())
		}
	}
	if len(errs) > 0 {
		return c, errors.New(strings.Join(errs, "; "))
	}
	// Digests compare as lower-case hex (sha*sum prints them so).
	for _, p := range []*string{&c.ConnectorSha256, &c.KafkaSha512, &c.ConfluentSha256, &c.MskIamAuthSha256} {
		*p = strings.ToLower(*p)
	}
	c.normalize()
	err := c.Validate()
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.Source = contextSource(ce.Key, node.TryGetContext(&ce.Key))
	}
	return c, err
}

// ConfigError is a bad context value: its key, what is wrong, and where the value came from.
type ConfigError struct {
	Key, Problem string
	// Source is "cdk.json" or "the command line (-c key=value)"; empty reads as cdk.json.
	Source string
}

func (e *ConfigError) Error() string {
	src := e.Source
	if src == "" {
		src = "cdk.json"
	}
	return fmt.Sprintf("%s: context %q: %s", src, e.Key, e.Problem)
}

// contextSource tells where a context value came from: cdk.json (in the working directory, where
// the CDK CLI runs the app) when it holds that value, else the command line, as -c key=value.
func contextSource(key string, value interface{}) string {
	raw, err := os.ReadFile("cdk.json")
	if err == nil {
		var f struct {
			Context map[string]interface{} `json:"context"`
		}
		if json.Unmarshal(raw, &f) == nil {
			if fv, ok := f.Context[key]; ok && fmt.Sprint(fv) == fmt.Sprint(value) {
				return "cdk.json"
			}
		}
	}
	if value == nil {
		return "cdk.json"
	}
	return fmt.Sprintf("the command line (-c %s=%v)", key, value)
}

// cdkKeys are context keys without ':' or '@' that the CDK CLI itself keeps in context
// (cdk.context.json): acknowledged notices and the telemetry switch.
var cdkKeys = map[string]bool{"acknowledged-issue-numbers": true, "cli-telemetry": true}

// ours reports whether key is one pinpipe should know: keys holding ':' or '@' are CDK's feature
// flags and lookups (aws:cdk:*, availability-zones:…, @aws-cdk/…), cdk-* and cdkKeys are the
// CLI's own.
func ours(key string) bool {
	return !strings.ContainsAny(key, ":@") && !strings.HasPrefix(key, "cdk-") && !cdkKeys[key]
}

// unknownKeys refuses context keys that are neither pinpipe's nor CDK's.
func unknownKeys(node ContextGetter) error {
	all, _ := node.GetAllContext(nil).(map[string]interface{})
	known := map[string]bool{}
	for _, s := range settings {
		known[s.key] = true
	}
	var bad []string
	for key := range all {
		if ours(key) && !known[key] {
			bad = append(bad, key)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	msgs := make([]string, len(bad))
	for i, key := range bad {
		e := &ConfigError{Key: key, Source: contextSource(key, all[key])}
		if near := NearestKey(key); near != "" {
			e.Problem = fmt.Sprintf("not a pinpipe setting; did you mean %q?", near)
		} else {
			e.Problem = fmt.Sprintf("not a pinpipe setting (known: %s)", strings.Join(ContextKeys(), ", "))
		}
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// NearestKey is the known context key closest to key (case-insensitive edit distance), or ""
// when none is close enough to be a misspelling.
func NearestKey(key string) string {
	best, bestD := "", 1<<30
	k := strings.ToLower(key)
	for _, s := range settings {
		known := strings.ToLower(s.key)
		d := editDistance(k, known)
		if len(k) >= 4 && (strings.HasPrefix(known, k) || strings.HasPrefix(k, known)) {
			d = min(d, 1) // a key cut short, or with something appended
		}
		if d < bestD {
			best, bestD = s.key, d
		}
	}
	if limit := max(2, len(best)/3); bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment) distance of a and b: a
// swapped pair of letters counts as one edit, as typists make them.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// setFromContext sets field from a context value: JSON-typed from cdk.json, or a string from
// `-c key=value`. nil (absent) leaves the default. A string field also takes a JSON array of
// strings, joined with commas.
func setFromContext(field reflect.Value, value interface{}) error {
	if value == nil {
		return nil
	}
	switch field.Kind() {
	case reflect.String:
		switch x := value.(type) {
		case string:
			field.SetString(strings.TrimSpace(x))
		case []interface{}:
			parts := make([]string, len(x))
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("want a string or a list of strings, got %v", value)
				}
				parts[i] = strings.TrimSpace(s)
			}
			field.SetString(strings.Join(parts, ","))
		default:
			return fmt.Errorf("want a string, got %v", value)
		}
	case reflect.Int:
		switch x := value.(type) {
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<31 {
				return fmt.Errorf("want a whole number, got %v", x)
			}
			field.SetInt(int64(x))
		case string:
			n, err := strconv.Atoi(strings.TrimSpace(x))
			if err != nil {
				return fmt.Errorf("want a whole number, got %q", x)
			}
			field.SetInt(int64(n))
		default:
			return fmt.Errorf("want a whole number, got %v", value)
		}
	case reflect.Bool:
		switch x := value.(type) {
		case bool:
			field.SetBool(x)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err != nil {
				return fmt.Errorf("want true or false, got %q", x)
			}
			field.SetBool(b)
		default:
			return fmt.Errorf("want true or false, got %v", value)
		}
	default:
		return fmt.Errorf("unsupported field kind %s", field.Kind())
	}
	return nil
}

// badKey is the error of a context value the service would refuse (LoadConfig adds its source).
func badKey(key, format string, a ...interface{}) error {
	return &ConfigError{Key: key, Problem: fmt.Sprintf(format, a...)}
}

// normalize gives enum values the spelling their enum tag lists (kinesisCapacityMode=on_demand
// becomes ON_DEMAND), so that the rest of the app compares plain strings.
func (c *Config) normalize() {
	v := reflect.ValueOf(c).Elem()
	for _, s := range settings {
		f := v.Field(s.index)
		if s.enum == "" || f.Kind() != reflect.String {
			continue
		}
		for _, e := range strings.Split(s.enum, ",") {
			if strings.EqualFold(f.String(), e) {
				f.SetString(e)
			}
		}
	}
}

// check tests one field against its tags.
func (s setting) check(f reflect.Value) error {
	var text string
	switch f.Kind() {
	case reflect.String:
		text = f.String()
		if text == "" && s.def == "" {
			return nil // optional, unset
		}
	case reflect.Int:
		text = strconv.FormatInt(f.Int(), 10)
	default:
		return nil
	}
	if s.enum != "" && !containsString(strings.Split(s.enum, ","), text) {
		what := ""
		if s.want != "" {
			what = " (" + s.want + ")"
		}
		return badKey(s.key, "%q is not one of %s%s", text, strings.ReplaceAll(s.enum, ",", ", "), what)
	}
	if s.rng != "" {
		lo, hi, _ := strings.Cut(s.rng, ",")
		l, _ := strconv.Atoi(lo)
		h, _ := strconv.Atoi(hi)
		if n := int(f.Int()); n < l || n > h {
			return badKey(s.key, "%d is out of range [%d, %d]", n, l, h)
		}
	}
	if s.re != nil && !s.re.MatchString(text) {
		return badKey(s.key, "%q is not %s", text, s.want)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// Validate checks every field and names the context key of the first one that is wrong: first
// each key against what its service accepts (the tags), then the rules between keys.
func (c Config) Validate() error {
	v := reflect.ValueOf(c)
	for _, s := range settings {
		if err := s.check(v.Field(s.index)); err != nil {
			return err
		}
	}
	if err := record.ValidUserID(c.UserID); err != nil {
		return badKey("userId", "%v", err)
	}
	if c.ExistingMskClusterArn != "" {
		parts := strings.Split(c.ExistingMskClusterArn, ":")
		if c.Region != "" && parts[3] != c.Region {
			return badKey("existingMskClusterArn", "the cluster is in %s, the stacks deploy to %s (CDK_DEFAULT_REGION): MSK Connect and the VPC must be in the cluster's region", parts[3], c.Region)
		}
		if c.Account != "" && parts[4] != c.Account {
			return badKey("existingMskClusterArn", "the cluster is in account %s, the stacks deploy to %s (CDK_DEFAULT_ACCOUNT)", parts[4], c.Account)
		}
	} else if c.TopicReplicationFactor > 2 {
		return badKey("topicReplicationFactor", "%d is more than the 2 brokers of the cluster pinpipe creates", c.TopicReplicationFactor)
	}
	if strings.HasPrefix(c.ProxyInstanceType, "mac") {
		return badKey("proxyInstanceType", "%q is a macOS host type; the proxy runs Amazon Linux", c.ProxyInstanceType)
	}
	if c.GithubOidcProviderArn != "" && c.GithubRepo == "" {
		return badKey("githubOidcProviderArn", "is only used with githubRepo")
	}
	if acct := strings.Split(c.GithubOidcProviderArn, ":"); c.Account != "" && len(acct) > 4 && acct[4] != c.Account {
		return badKey("githubOidcProviderArn", "the provider is in account %s, the stacks deploy to %s (CDK_DEFAULT_ACCOUNT): a role trusts its own account's provider only", acct[4], c.Account)
	}
	if err := c.validatePins(); err != nil {
		return err
	}
	if c.ConnectorZipPath != "" {
		if st, err := os.Stat(c.ConnectorZipPath); err != nil || st.IsDir() || !strings.HasSuffix(c.ConnectorZipPath, ".zip") {
			return badKey("connectorZipPath", "%q is not a readable .zip file", c.ConnectorZipPath)
		}
	}
	if azs := c.AZs(); len(azs) > 0 {
		if azs[0] == azs[1] {
			return badKey("availabilityZones", "%q names one zone twice: the VPC needs two", c.AvailabilityZones)
		}
		for _, az := range azs {
			if c.Region != "" && !strings.HasPrefix(az, c.Region) {
				return badKey("availabilityZones", "%s is not in %s (CDK_DEFAULT_REGION)", az, c.Region)
			}
			if !strings.HasPrefix(az, azs[0][:len(azs[0])-1]) {
				return badKey("availabilityZones", "%q names zones of two regions", c.AvailabilityZones)
			}
		}
	}
	return nil
}

// AZs are the configured Availability Zones (nil when availabilityZones is unset).
func (c Config) AZs() []string {
	if c.AvailabilityZones == "" {
		return nil
	}
	return strings.Split(c.AvailabilityZones, ",")
}

// KafkaClientVersion is the Apache Kafka release whose client tools the proxy installs for
// KafkaVersion: MSK names a line (3.8.x, 4.0.x.kraft), Apache publishes releases (3.8.1).
func (c Config) KafkaClientVersion() string {
	line := strings.TrimSuffix(c.KafkaVersion, ".kraft")
	if v, ok := kafkaClientReleases[line]; ok {
		return v
	}
	return line
}

// kafkaClientReleases are the latest Apache Kafka release of each MSK version line that names
// no patch release.
var kafkaClientReleases = map[string]string{
	"3.7.x": "3.7.2",
	"3.8.x": "3.8.1",
	"3.9.x": "3.9.1",
	"4.0.x": "4.0.0",
	"4.1.x": "4.1.0",
}

// ConnectorDownloadURL is where the deploy-time Lambda fetches the S3 sink connector zip.
func (c Config) ConnectorDownloadURL() string {
	if c.ConnectorURL != "" {
		return c.ConnectorURL
	}
	return fmt.Sprintf("https://d1i4a15mxbxib1.cloudfront.net/api/plugins/confluentinc/kafka-connect-s3/versions/%[1]s/confluentinc-kafka-connect-s3-%[1]s.zip", c.ConnectorVersion)
}

// Name is a resource name unique to the user id: "pinpipe-<userId>-<suffix>". It is unique per
// (account, region, userId) only where the service scopes names to a region: for names that are
// account-wide use GlobalName, for names that are global use bucketName.
func (c Config) Name(suffix string) string { return "pinpipe-" + c.UserID + "-" + suffix }

// GlobalName is "pinpipe-<userId>-<suffix>-<region>" (the region a deploy-time value): unique in
// the account for services whose names are account-wide, not regional (IAM roles, CloudWatch
// dashboards), so that one userId can deploy to several regions of an account. At most 64
// characters for a suffix of up to 24 (an IAM role name's limit; regions have up to 14).
func (c Config) GlobalName(suffix string) *string {
	return awscdk.Fn_Join(jsii.String("-"), &[]*string{jsii.String(c.Name(suffix)), awscdk.Aws_REGION()})
}
