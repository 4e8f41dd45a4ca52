// Package stacks declares the pinpipe pipeline on AWS: one file per stack, stateful resources
// (network, storage, Kafka) apart from the stateless ones that can be re-created at will, all
// configured by one Config read from cdk.json context.
package stacks

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"

	"github.com/pinpipe/pinpipe/record"
)

// Config is the whole configuration of the CDK app. Every field has a context key of the same
// name in lowerCamelCase (the `ctx` tag); a key that is absent takes the default below. Values may
// be JSON typed in cdk.json or strings from `cdk synth -c key=value`.
type Config struct {
	// UserID names everything: topics <userId>.pin|geo|user, streams streaming-<userId>-…,
	// buckets and stacks. Lower-case letters, digits and '-'. Default "demo".
	UserID string `ctx:"userId"`
	// Account and Region come from CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION (set by the CDK CLI
	// from the active AWS profile). Empty means an environment-agnostic synth.
	Account string
	Region  string

	// KafkaVersion of the MSK cluster and of the Kafka client installed on the proxy instance.
	KafkaVersion string `ctx:"kafkaVersion"`
	// ExistingMskClusterArn imports that cluster instead of creating one. It must be reachable
	// from the pinpipe VPC on port 9098 (IAM auth) and have IAM client authentication on.
	ExistingMskClusterArn string `ctx:"existingMskClusterArn"`
	// MskInstanceType of the two brokers of a created cluster.
	MskInstanceType string `ctx:"mskInstanceType"`
	// MskVolumeGiB is the EBS volume of each broker.
	MskVolumeGiB int `ctx:"mskVolumeGiB"`
	// ManageTopics declares the three topics (AWS::MSK::Topic). Turn it off for an existing
	// cluster that already has them.
	ManageTopics bool `ctx:"manageTopics"`
	// TopicPartitions and TopicReplicationFactor of the declared topics.
	TopicPartitions        int `ctx:"topicPartitions"`
	TopicReplicationFactor int `ctx:"topicReplicationFactor"`

	// ProxyInstanceType of the Kafka client / REST proxy instance.
	ProxyInstanceType string `ctx:"proxyInstanceType"`
	// ConfluentVersion of the Confluent Community package that provides the REST proxy.
	ConfluentVersion string `ctx:"confluentVersion"`
	// MskIamAuthVersion of aws-msk-iam-auth, the SASL mechanism AWS_MSK_IAM for Java clients.
	MskIamAuthVersion string `ctx:"mskIamAuthVersion"`
	// KafkaSha512, ConfluentSha256 and MskIamAuthSha256 pin what the proxy host installs as root
	// (hex digests of the Kafka client archive, the Confluent Community archive and the
	// aws-msk-iam-auth jar). Empty means the pin in pins.go for the version, if there is one; a
	// version without one is refused unless allowUnpinnedDownloads is true.
	KafkaSha512      string `ctx:"kafkaSha512"`
	ConfluentSha256  string `ctx:"confluentSha256"`
	MskIamAuthSha256 string `ctx:"mskIamAuthSha256"`
	// AllowUnpinnedDownloads accepts versions that have no pinned checksum: they are checked at
	// boot against the checksum file their publisher puts beside them, where there is one.
	AllowUnpinnedDownloads bool `ctx:"allowUnpinnedDownloads"`

	// ConnectorVersion of the Confluent S3 sink connector, downloaded by the deploy-time Lambda.
	ConnectorVersion string `ctx:"connectorVersion"`
	// ConnectorURL overrides the download URL derived from ConnectorVersion.
	ConnectorURL string `ctx:"connectorUrl"`
	// ConnectorSha256, when set, must match the downloaded zip (hex) or the deployment fails. It
	// is required for a non-default connectorVersion or connectorUrl (see pins.go).
	ConnectorSha256 string `ctx:"connectorSha256"`
	// ConnectorZipPath is a local connector zip uploaded as an asset instead of downloading one.
	ConnectorZipPath string `ctx:"connectorZipPath"`
	// FlushSize is the S3 sink's flush.size: records per object. The seed uses 1.
	FlushSize int `ctx:"flushSize"`
	// ConnectorMcuCount and ConnectorWorkers size the MSK Connect connector.
	ConnectorMcuCount int `ctx:"connectorMcuCount"`
	ConnectorWorkers  int `ctx:"connectorWorkers"`

	// KinesisCapacityMode is PROVISIONED (KinesisShards shards per stream) or ON_DEMAND.
	KinesisCapacityMode string `ctx:"kinesisCapacityMode"`
	KinesisShards       int    `ctx:"kinesisShards"`

	// ApiAuth is how callers of the API's data routes authenticate: "key" (an API key in
	// x-api-key, as the original pipeline) or "iam" (requests signed with SigV4, AWS_IAM).
	ApiAuth string `ctx:"apiAuth"`
	// ApiRateLimit and ApiBurstLimit throttle the API key's usage plan (requests per second).
	ApiRateLimit  int `ctx:"apiRateLimit"`
	ApiBurstLimit int `ctx:"apiBurstLimit"`

	// NatGateways in the VPC: 1 (default, cheapest) or 2 (one per AZ, no single point).
	NatGateways int `ctx:"natGateways"`
	// DestroyData makes `cdk destroy` delete buckets (with their objects) and streams. Default
	// false: stateful resources are retained.
	DestroyData bool `ctx:"destroyData"`

	// Scheduler runs the daily batch job: "mwaa" (default: Airflow, as the seed) or
	// "eventbridge" (EventBridge Scheduler, the cheap option). Used by the processing stacks.
	Scheduler string `ctx:"scheduler"`
	// Emulator deploys the posting emulator on a schedule (processing stacks). Default false:
	// nothing posts data, and costs accrue, until a user asks for it.
	Emulator bool `ctx:"emulator"`
	// MwaaEnvironmentClass sizes the Airflow environment when scheduler is mwaa: mw1.micro,
	// mw1.small (default), mw1.medium, mw1.large, ...
	MwaaEnvironmentClass string `ctx:"mwaaEnvironmentClass"`
	// AlarmEmail, when set, is subscribed to the alarm topic (the address confirms by mail).
	AlarmEmail string `ctx:"alarmEmail"`
	// FirehoseBufferSeconds and FirehoseBufferMiB bound the Firehose delivery of cleaned stream
	// records (processing stacks).
	FirehoseBufferSeconds int `ctx:"firehoseBufferSeconds"`
	FirehoseBufferMiB     int `ctx:"firehoseBufferMiB"`
}

// Values of the apiAuth context key.
const (
	ApiAuthKey = "key"
	ApiAuthIAM = "iam"
)

// DefaultConfig is the configuration with every context key absent.
func DefaultConfig() Config {
	return Config{
		UserID:                 "demo",
		KafkaVersion:           "3.6.0",
		MskInstanceType:        "kafka.t3.small",
		MskVolumeGiB:           10,
		ManageTopics:           true,
		TopicPartitions:        1,
		TopicReplicationFactor: 2,
		ProxyInstanceType:      "t3.small",
		ConfluentVersion:       "7.6.1",
		MskIamAuthVersion:      "2.3.2",
		ConnectorVersion:       "10.0.3",
		FlushSize:              1,
		ConnectorMcuCount:      1,
		ConnectorWorkers:       1,
		KinesisCapacityMode:    "PROVISIONED",
		KinesisShards:          1,
		ApiAuth:                ApiAuthKey,
		ApiRateLimit:           100,
		ApiBurstLimit:          200,
		NatGateways:            1,
		Scheduler:              "mwaa",
		Emulator:               false,
		MwaaEnvironmentClass:   "mw1.small",
		FirehoseBufferSeconds:  60,
		FirehoseBufferMiB:      5,
	}
}

// ContextGetter is what LoadConfig reads: constructs.Node satisfies it (app.Node()).
type ContextGetter interface {
	TryGetContext(key *string) interface{}
}

// LoadConfig reads the context of node over DefaultConfig and the environment, and validates it.
// Errors name the context key at fault.
func LoadConfig(node ContextGetter) (Config, error) {
	c := DefaultConfig()
	c.Account = os.Getenv("CDK_DEFAULT_ACCOUNT")
	c.Region = os.Getenv("CDK_DEFAULT_REGION")
	var errs []string
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		key := v.Type().Field(i).Tag.Get("ctx")
		if key == "" {
			continue
		}
		if err := setFromContext(v.Field(i), node.TryGetContext(&key)); err != nil {
			errs = append(errs, fmt.Sprintf("context %q: %v", key, err))
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("cdk.json: %s", strings.Join(errs, "; "))
	}
	c.KinesisCapacityMode = strings.ToUpper(c.KinesisCapacityMode)
	c.Scheduler = strings.ToLower(c.Scheduler)
	c.ApiAuth = strings.ToLower(c.ApiAuth)
	for _, p := range []*string{&c.ConnectorSha256, &c.KafkaSha512, &c.ConfluentSha256, &c.MskIamAuthSha256} {
		*p = strings.ToLower(*p)
	}
	return c, c.Validate()
}

var (
	versionRE     = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	mskClusterRE  = regexp.MustCompile(`^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9-]+/[A-Za-z0-9-]+$`)
	sha256RE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	sha512RE      = regexp.MustCompile(`^[0-9a-f]{128}$`)
	instanceRE    = regexp.MustCompile(`^[a-z0-9]+\.[a-z0-9]+$`)
	mskInstanceRE = regexp.MustCompile(`^kafka\.[a-z0-9]+\.[a-z0-9]+$`)
	mwaaClassRE   = regexp.MustCompile(`^mw1\.(micro|small|medium|large|xlarge|2xlarge)$`)
	emailRE       = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// setFromContext sets field from a context value: JSON-typed from cdk.json, or a string from
// `-c key=value`. nil (absent) leaves the default.
func setFromContext(field reflect.Value, value interface{}) error {
	if value == nil {
		return nil
	}
	switch field.Kind() {
	case reflect.String:
		s, ok := value.(string)
		if !ok {
			return fmt.Errorf("want a string, got %v", value)
		}
		field.SetString(strings.TrimSpace(s))
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

// Validate checks every field and names the context key of the first one that is wrong.
func (c Config) Validate() error {
	bad := func(key, format string, a ...interface{}) error {
		return fmt.Errorf("cdk.json context %q: %s", key, fmt.Sprintf(format, a...))
	}
	between := func(key string, v, lo, hi int) error {
		if v < lo || v > hi {
			return bad(key, "%d is out of range [%d, %d]", v, lo, hi)
		}
		return nil
	}
	if err := record.ValidUserID(c.UserID); err != nil {
		return bad("userId", "%v", err)
	}
	// Bucket names carry the user id, the account and the region: keep them under 63 characters.
	if len(c.UserID) > 16 {
		return bad("userId", "%q is longer than 16 characters (it goes into S3 bucket names, at most 63 characters)", c.UserID)
	}
	if !versionRE.MatchString(c.KafkaVersion) {
		return bad("kafkaVersion", "%q is not a version like 3.6.0", c.KafkaVersion)
	}
	if c.ExistingMskClusterArn != "" && !mskClusterRE.MatchString(c.ExistingMskClusterArn) {
		return bad("existingMskClusterArn", "%q is not an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)", c.ExistingMskClusterArn)
	}
	if !mskInstanceRE.MatchString(c.MskInstanceType) {
		return bad("mskInstanceType", "%q is not an MSK broker type like kafka.t3.small", c.MskInstanceType)
	}
	checks := []error{
		between("mskVolumeGiB", c.MskVolumeGiB, 1, 16384),
		between("topicPartitions", c.TopicPartitions, 1, 1000),
		between("topicReplicationFactor", c.TopicReplicationFactor, 1, 3),
		between("flushSize", c.FlushSize, 1, 1_000_000),
		between("connectorMcuCount", c.ConnectorMcuCount, 1, 8),
		between("connectorWorkers", c.ConnectorWorkers, 1, 10),
		between("kinesisShards", c.KinesisShards, 1, 500),
		between("apiRateLimit", c.ApiRateLimit, 1, 10000),
		between("apiBurstLimit", c.ApiBurstLimit, 1, 5000),
		// The proxy instance downloads its software and reaches AWS APIs through a NAT gateway.
		between("natGateways", c.NatGateways, 1, 2),
		between("firehoseBufferSeconds", c.FirehoseBufferSeconds, 0, 900),
		between("firehoseBufferMiB", c.FirehoseBufferMiB, 1, 128),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if !instanceRE.MatchString(c.ProxyInstanceType) {
		return bad("proxyInstanceType", "%q is not an EC2 instance type like t3.small", c.ProxyInstanceType)
	}
	for key, v := range map[string]string{"confluentVersion": c.ConfluentVersion, "mskIamAuthVersion": c.MskIamAuthVersion, "connectorVersion": c.ConnectorVersion} {
		if !versionRE.MatchString(v) {
			return bad(key, "%q is not a version like 1.2.3", v)
		}
	}
	if c.ConnectorURL != "" && !strings.HasPrefix(c.ConnectorURL, "https://") {
		return bad("connectorUrl", "%q must be an https:// URL", c.ConnectorURL)
	}
	for key, v := range map[string]string{"connectorSha256": c.ConnectorSha256, "confluentSha256": c.ConfluentSha256, "mskIamAuthSha256": c.MskIamAuthSha256} {
		if v != "" && !sha256RE.MatchString(v) {
			return bad(key, "want a SHA-256: 64 hexadecimal digits, got %q", v)
		}
	}
	if c.KafkaSha512 != "" && !sha512RE.MatchString(c.KafkaSha512) {
		return bad("kafkaSha512", "want a SHA-512: 128 hexadecimal digits, got %q", c.KafkaSha512)
	}
	if err := c.validatePins(); err != nil {
		return err
	}
	switch c.ApiAuth {
	case ApiAuthKey, ApiAuthIAM:
	default:
		return bad("apiAuth", "%q: want key (API key) or iam (SigV4)", c.ApiAuth)
	}
	if c.ConnectorZipPath != "" {
		if st, err := os.Stat(c.ConnectorZipPath); err != nil || st.IsDir() || !strings.HasSuffix(c.ConnectorZipPath, ".zip") {
			return bad("connectorZipPath", "%q is not a readable .zip file", c.ConnectorZipPath)
		}
	}
	switch c.KinesisCapacityMode {
	case "PROVISIONED", "ON_DEMAND":
	default:
		return bad("kinesisCapacityMode", "%q: want PROVISIONED or ON_DEMAND", c.KinesisCapacityMode)
	}
	if c.AlarmEmail != "" && !emailRE.MatchString(c.AlarmEmail) {
		return bad("alarmEmail", "%q is not an e-mail address", c.AlarmEmail)
	}
	if !mwaaClassRE.MatchString(c.MwaaEnvironmentClass) {
		return bad("mwaaEnvironmentClass", "%q is not an MWAA environment class like mw1.small", c.MwaaEnvironmentClass)
	}
	switch c.Scheduler {
	case "eventbridge", "mwaa":
	default:
		return bad("scheduler", "%q: want eventbridge or mwaa", c.Scheduler)
	}
	return nil
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

// Name is a resource name prefix unique to the user id: "pinpipe-<userId>-<suffix>".
func (c Config) Name(suffix string) string { return "pinpipe-" + c.UserID + "-" + suffix }

var _ ContextGetter = constructs.Node(nil)
