package test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/assert"

	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/stacks"
)

// variantContext turns every switch away from its default: an imported cluster, data destroyed
// with the stacks, on-demand streams, a local connector zip, two NAT gateways, another flush size.
func variantContext() map[string]interface{} {
	return map[string]interface{}{
		"userId":                "0ec858bf1407",
		"existingMskClusterArn": existingClusterArn,
		"destroyData":           true,
		"kinesisCapacityMode":   "ON_DEMAND",
		"connectorZipPath":      filepath.Join(testenv.RepoRoot(), "test", "testdata", "connector-fixture.zip"),
		"natGateways":           2,
		"flushSize":             100,
		"githubRepo":            githubRepo,
	}
}

const existingClusterArn = "arn:aws:kafka:us-east-1:123456789012:cluster/pinterest-msk-cluster/5f7a1b2c-0000-1111-2222-333344445555-2"

// allStacks are the stacks of a synthesis with their names.
func allStacks(s *Synthesis) map[string]awscdk.Stack {
	p := s.Pipeline
	return map[string]awscdk.Stack{
		"network": p.Network.Stack, "storage": p.Storage.Stack, "kafka": p.Kafka.Stack, "ingestion": p.Ingestion.Stack,
	}
}

// The variant synthesizes too, and is as clean as the default.
func TestStacksVariant(t *testing.T) {
	s := Synth(t, variantContext())
	if v := s.ValidationViolations(t); len(v) > 0 {
		t.Errorf("built-in CloudFormation validation reported:\n%s", strings.Join(v, "\n"))
	}
	for _, st := range allStacks(s) {
		s.RequireNoNagFindings(t, st)
	}
	kafka := s.TemplateJSON(t, s.Pipeline.Kafka.Stack)
	if n := len(Resources(kafka, "AWS::MSK::Cluster")); n != 0 {
		t.Errorf("an existing cluster is configured, but %d clusters are declared", n)
	}
	tmpl := s.Template(t, s.Pipeline.Kafka.Stack)
	Must(t, func() {
		tmpl.ResourceCountIs(jsii.String("AWS::MSK::Topic"), jsii.Number(3))
		tmpl.HasResourceProperties(jsii.String("AWS::MSK::Topic"), map[string]interface{}{
			"ClusterArn": existingClusterArn, "TopicName": "0ec858bf1407.pin",
		})
	})
	ing := s.Template(t, s.Pipeline.Ingestion.Stack)
	Must(t, func() {
		// Topic ARNs of the imported cluster are literal.
		ing.HasResourceProperties(jsii.String("AWS::IAM::Policy"), map[string]interface{}{
			"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
				assertions.Match_ObjectLike(&map[string]interface{}{
					// Produce (the REST proxy), and read (the Kafka CLI), merged on one ARN.
					"Action":   assertions.Match_ArrayWith(&[]interface{}{"kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"}),
					"Effect":   "Allow",
					"Resource": "arn:aws:kafka:us-east-1:123456789012:topic/pinterest-msk-cluster/5f7a1b2c-0000-1111-2222-333344445555-2/0ec858bf1407.*",
				}),
			})},
		})
		ing.HasResourceProperties(jsii.String("AWS::KafkaConnect::Connector"), map[string]interface{}{
			"ConnectorConfiguration": assertions.Match_ObjectLike(&map[string]interface{}{
				"flush.size": "100", "topics.regex": `^0ec858bf1407\.(pin|geo|user)$`,
			}),
		})
		// The local zip is an asset in the CDK bootstrap bucket; no download function.
		ing.HasResourceProperties(jsii.String("AWS::KafkaConnect::CustomPlugin"), map[string]interface{}{
			"Location": map[string]interface{}{"S3Location": map[string]interface{}{
				"BucketArn": assertions.Match_AnyValue(), "FileKey": assertions.Match_StringLikeRegexp(jsii.String(`^[0-9a-f]{64}\.zip$`)),
			}},
		})
		ing.ResourceCountIs(jsii.String("Custom::ConnectorZip"), jsii.Number(0))
	})
	st := s.Template(t, s.Pipeline.Storage.Stack)
	Must(t, func() {
		st.HasResourceProperties(jsii.String("AWS::Kinesis::Stream"), map[string]interface{}{
			"Name": "streaming-0ec858bf1407-pin", "StreamModeDetails": map[string]interface{}{"StreamMode": "ON_DEMAND"},
		})
		st.HasResource(jsii.String("AWS::S3::Bucket"), map[string]interface{}{"DeletionPolicy": "Delete"})
	})
	net := s.Template(t, s.Pipeline.Network.Stack)
	Must(t, func() { net.ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(2)) })
}

// No IAM statement allows a wildcard action, and only actions without resource-level
// permissions are granted on Resource "*".
func TestNoWildcardPermissions(t *testing.T) {
	onAnyResource := map[string]bool{"kinesis:ListStreams": true}
	for _, s := range []*Synthesis{Synth(t, nil), Synth(t, variantContext())} {
		for name, st := range allStacks(s) {
			for id, r := range Resources(s.TemplateJSON(t, st), "AWS::IAM::Policy") {
				doc := Props(r)["PolicyDocument"].(map[string]interface{})
				for _, x := range doc["Statement"].([]interface{}) {
					stmt := x.(map[string]interface{})
					actions := strs(stmt["Action"])
					for _, a := range actions {
						if a == "*" || strings.HasSuffix(a, ":*") {
							t.Errorf("%s/%s: wildcard action %s", name, id, a)
						}
					}
					if res, ok := stmt["Resource"].(string); ok && res == "*" {
						for _, a := range actions {
							if !onAnyResource[a] {
								t.Errorf("%s/%s: %s on Resource *", name, id, a)
							}
						}
					}
				}
			}
		}
	}
}

func strs(v interface{}) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []interface{}:
		out := make([]string, len(x))
		for i, e := range x {
			out[i], _ = e.(string)
		}
		return out
	}
	return nil
}

// The proxy instance: IMDSv2 only, encrypted root volume, no key pair, no public address, in a
// private subnet (that the proxy port admits the load balancer only, and no security group an
// address range, is the rehearsal's network check, TestRehearsalNetwork).
func TestProxyInstanceHardened(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.Template(t, s.Pipeline.Ingestion.Stack)
	Must(t, func() {
		tmpl.HasResourceProperties(jsii.String("AWS::EC2::LaunchTemplate"), map[string]interface{}{
			"LaunchTemplateData": map[string]interface{}{"MetadataOptions": map[string]interface{}{"HttpTokens": "required"}},
		})
		tmpl.HasResourceProperties(jsii.String("AWS::EC2::Instance"), map[string]interface{}{
			"BlockDeviceMappings": []interface{}{map[string]interface{}{
				"DeviceName": "/dev/xvda",
				"Ebs":        map[string]interface{}{"Encrypted": true, "VolumeType": "gp3", "VolumeSize": 16},
			}},
			"KeyName": assertions.Match_Absent(),
			"NetworkInterfaces": []interface{}{map[string]interface{}{
				"AssociatePublicIpAddress": false,
				"DeviceIndex":              "0",
				"GroupSet":                 assertions.Match_AnyValue(),
				"SubnetId":                 map[string]interface{}{"Fn::ImportValue": assertions.Match_StringLikeRegexp(jsii.String("privateSubnet1"))},
			}},
		})
		tmpl.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::LoadBalancer"), map[string]interface{}{
			"Scheme": "internal", "Type": "network",
		})
	})
	// The user data carries the deploy-time bootstrap string and the role's ARN.
	b, _ := json.Marshal(Resources(s.TemplateJSON(t, s.Pipeline.Ingestion.Stack), "AWS::EC2::Instance"))
	for _, want := range []string{"BootstrapBrokers", "BootstrapBrokerStringSaslIam", `":role/",{"Fn::Join":["-",["pinpipe-demo-rest-proxy",{"Ref":"AWS::Region"}]]}`, "Restart=on-failure"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("instance user data lacks %q", want)
		}
	}
}

// Data routes need the API key; CreateStream and DeleteStream need IAM and no key.
func TestApiAuthorization(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.TemplateJSON(t, s.Pipeline.Ingestion.Stack)
	seen := map[string]bool{}
	for id, r := range Resources(tmpl, "AWS::ApiGateway::Method") {
		p := Props(r)
		b, _ := json.Marshal(p["Integration"])
		integration := string(b)
		admin := strings.Contains(integration, "action/CreateStream") || strings.Contains(integration, "action/DeleteStream")
		key, _ := p["ApiKeyRequired"].(bool)
		switch {
		case admin:
			seen["admin"] = true
			if p["AuthorizationType"] != "AWS_IAM" || key {
				t.Errorf("%s: stream administration must be IAM only, got %v api key %v", id, p["AuthorizationType"], key)
			}
		default:
			seen[p["HttpMethod"].(string)] = true
			if !key || p["AuthorizationType"] != "NONE" {
				t.Errorf("%s (%s): data route without the API key", id, p["HttpMethod"])
			}
		}
		if !strings.Contains(integration, "VPC_LINK") && !strings.Contains(integration, "application/x-amz-json-1.1") {
			t.Errorf("%s: Kinesis integration without the x-amz-json-1.1 Content-Type", id)
		}
	}
	// The execution log group exists before the stage logs to it (or API Gateway would create
	// it, without retention, outside the stack), and no one suppresses cdk-nag's logging rule.
	stageID := onlyResource(t, tmpl, "AWS::ApiGateway::Stage", nil)
	stage := Resources(tmpl, "AWS::ApiGateway::Stage")[stageID]
	var execLogs string
	for id, r := range Resources(tmpl, "AWS::Logs::LogGroup") {
		if strings.Contains(toJSON(t, Props(r)["LogGroupName"]), "API-Gateway-Execution-Logs_") {
			execLogs = id
			assert.Contains(t, toJSON(t, Props(r)["LogGroupName"]), `"/prod"`)
			assert.NotNil(t, Props(r)["RetentionInDays"])
		}
	}
	if assert.NotEmpty(t, execLogs, "no execution log group") {
		assert.Contains(t, list(stage["DependsOn"]), execLogs)
	}
	assert.NotContains(t, toJSON(t, tmpl), "AwsSolutions-APIG6")
	for _, m := range []string{"admin", "GET", "PUT", "ANY"} {
		if !seen[m] {
			t.Errorf("no %s method", m)
		}
	}
	api := s.Template(t, s.Pipeline.Ingestion.Stack)
	Must(t, func() {
		api.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), map[string]interface{}{
			"TracingEnabled": true,
			"AccessLogSetting": map[string]interface{}{
				"DestinationArn": assertions.Match_AnyValue(), "Format": assertions.Match_AnyValue(),
			},
			// Execution logs of failures, never the bodies (data trace would log the records).
			"MethodSettings": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": "ERROR", "DataTraceEnabled": false,
			})},
		})
		api.HasResourceProperties(jsii.String("AWS::ApiGateway::UsagePlan"), map[string]interface{}{
			"Throttle": map[string]interface{}{"RateLimit": 100, "BurstLimit": 200},
		})
		api.HasResourceProperties(jsii.String("AWS::ApiGateway::Method"), map[string]interface{}{
			"HttpMethod":         "PUT",
			"RequestModels":      map[string]interface{}{"application/json": map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("PutRecords"))}},
			"RequestValidatorId": assertions.Match_AnyValue(),
		})
		api.HasResourceProperties(jsii.String("AWS::ApiGateway::Method"), map[string]interface{}{
			"HttpMethod":    "PUT",
			"RequestModels": map[string]interface{}{"application/json": map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("PutRecord[^s]"))}},
		})
		api.HasResourceProperties(jsii.String("AWS::ApiGateway::Method"), map[string]interface{}{
			"Integration": assertions.Match_ObjectLike(&map[string]interface{}{
				"ConnectionType": "VPC_LINK", "Type": "HTTP_PROXY",
			}),
		})
	})
}

// MSK: IAM client auth only, TLS to clients and between brokers, broker logs; the sink connector:
// the seed's configuration, IAM, TLS, worker logs.
func TestKafkaAndSink(t *testing.T) {
	s := Synth(t, nil)
	kafka := s.Template(t, s.Pipeline.Kafka.Stack)
	Must(t, func() {
		kafka.HasResourceProperties(jsii.String("AWS::MSK::Cluster"), map[string]interface{}{
			"ClientAuthentication": map[string]interface{}{
				"Sasl":            map[string]interface{}{"Iam": map[string]interface{}{"Enabled": true}},
				"Unauthenticated": map[string]interface{}{"Enabled": false},
			},
			"EncryptionInfo": map[string]interface{}{"EncryptionInTransit": map[string]interface{}{"ClientBroker": "TLS", "InCluster": true}},
			"LoggingInfo": map[string]interface{}{"BrokerLogs": map[string]interface{}{
				"CloudWatchLogs": map[string]interface{}{"Enabled": true, "LogGroup": assertions.Match_AnyValue()},
			}},
		})
		kafka.ResourceCountIs(jsii.String("AWS::MSK::Topic"), jsii.Number(3))
	})
	ing := s.Template(t, s.Pipeline.Ingestion.Stack)
	Must(t, func() {
		ing.HasResourceProperties(jsii.String("AWS::KafkaConnect::Connector"), map[string]interface{}{
			"ConnectorConfiguration": map[string]interface{}{
				"connector.class":                "io.confluent.connect.s3.S3SinkConnector",
				"s3.region":                      map[string]interface{}{"Ref": "AWS::Region"},
				"s3.bucket.name":                 assertions.Match_AnyValue(),
				"flush.size":                     "1",
				"schema.compatibility":           "NONE",
				"tasks.max":                      "3",
				"topics.regex":                   `^demo\.(pin|geo|user)$`,
				"format.class":                   "io.confluent.connect.s3.format.json.JsonFormat",
				"partitioner.class":              "io.confluent.connect.storage.partitioner.DefaultPartitioner",
				"value.converter.schemas.enable": "false",
				"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
				"storage.class":                  "io.confluent.connect.s3.storage.S3Storage",
				"key.converter":                  "org.apache.kafka.connect.storage.StringConverter",
			},
			"KafkaClusterClientAuthentication": map[string]interface{}{"AuthenticationType": "IAM"},
			"KafkaClusterEncryptionInTransit":  map[string]interface{}{"EncryptionType": "TLS"},
			"LogDelivery": map[string]interface{}{"WorkerLogDelivery": map[string]interface{}{
				"CloudWatchLogs": map[string]interface{}{"Enabled": true, "LogGroup": assertions.Match_AnyValue()},
			}},
		})
		ing.HasResourceProperties(jsii.String("Custom::ConnectorZip"), map[string]interface{}{
			"Url": "https://d1i4a15mxbxib1.cloudfront.net/api/plugins/confluentinc/kafka-connect-s3/versions/10.0.3/confluentinc-kafka-connect-s3-10.0.3.zip",
			"Key": "plugins/confluentinc-kafka-connect-s3-10.0.3.zip",
		})
	})
}

// Buckets: encrypted, private, TLS only, versioned (data buckets), access-logged; streams encrypted.
func TestStorageProtected(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.TemplateJSON(t, s.Pipeline.Storage.Stack)
	buckets := Resources(tmpl, "AWS::S3::Bucket")
	if len(buckets) != 3 {
		t.Fatalf("%d buckets, want 3", len(buckets))
	}
	for id, b := range buckets {
		p := Props(b)
		enc, _ := json.Marshal(p["BucketEncryption"])
		if !strings.Contains(string(enc), "AES256") {
			t.Errorf("%s: encryption %s", id, enc)
		}
		pab, _ := p["PublicAccessBlockConfiguration"].(map[string]interface{})
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if pab[k] != true {
				t.Errorf("%s: %s not set", id, k)
			}
		}
		if b["DeletionPolicy"] != "Retain" {
			t.Errorf("%s: deletion policy %v, want Retain by default", id, b["DeletionPolicy"])
		}
		if strings.HasPrefix(id, "AccessLogs") {
			continue
		}
		if v, _ := p["VersioningConfiguration"].(map[string]interface{}); v["Status"] != "Enabled" {
			t.Errorf("%s: not versioned", id)
		}
		if p["LoggingConfiguration"] == nil {
			t.Errorf("%s: no access logs", id)
		}
	}
	policies, _ := json.Marshal(Resources(tmpl, "AWS::S3::BucketPolicy"))
	if strings.Count(string(policies), `"aws:SecureTransport":"false"`) != 3 {
		t.Errorf("every bucket must deny requests without TLS: %s", policies)
	}
	st := s.Template(t, s.Pipeline.Storage.Stack)
	// Athena's scratch results (saved queries, the athena engine's daily runs) expire; the batch
	// outputs beside them do not.
	Must(t, func() {
		st.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]interface{}{
			"LifecycleConfiguration": map[string]interface{}{"Rules": assertions.Match_ArrayWith(&[]interface{}{
				map[string]interface{}{"Id": "expire-athena-results", "Prefix": stacks.AthenaPrefix,
					"ExpirationInDays": stacks.AthenaResultsDays, "Status": "Enabled"},
			})},
		})
	})
	Must(t, func() {
		for _, k := range []string{"pin", "geo", "user"} {
			st.HasResourceProperties(jsii.String("AWS::Kinesis::Stream"), map[string]interface{}{
				"Name":             "streaming-demo-" + k,
				"ShardCount":       1,
				"StreamEncryption": map[string]interface{}{"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
			})
		}
	})
}

// The sink reads exactly the user's three topics: topics.regex, taken from the template and
// matched as Kafka Connect matches it (the whole topic name), accepts <userId>.pin|geo|user and
// nothing else, not even another user whose id starts with this one's (issue 9: "demo.*" also
// matched demo2.pin).
func TestSinkTopicsRegex(t *testing.T) {
	for _, ctx := range []map[string]interface{}{nil, variantContext()} {
		s := Synth(t, ctx)
		user := s.Config.UserID
		conn := Resources(s.TemplateJSON(t, s.Pipeline.Ingestion.Stack), "AWS::KafkaConnect::Connector")
		for id, r := range conn {
			expr := Props(r)["ConnectorConfiguration"].(map[string]interface{})["topics.regex"].(string)
			re, err := regexp.Compile("^(?:" + expr + ")$") // Pattern.matches: the whole name
			if !assert.NoError(t, err, id) {
				continue
			}
			for _, topic := range []string{user + ".pin", user + ".geo", user + ".user"} {
				assert.True(t, re.MatchString(topic), "%s does not match %s", expr, topic)
			}
			for _, topic := range []string{user + "2.pin", user + "xpin", user + ".pins", user + ".pin.x", "x" + user + ".pin",
				user + ".other", user + "-2.geo", "__amazon_msk_connect_offsets_" + user} {
				assert.False(t, re.MatchString(topic), "%s matches %s", expr, topic)
			}
		}
	}
}

// The connector role may keep MSK Connect's internal topics and groups under both of the
// prefixes MSK Connect uses, __amazon_msk_connect_ and __msk_connect_.
func TestConnectorInternalTopics(t *testing.T) {
	s := Synth(t, nil)
	ing := s.TemplateJSON(t, s.Pipeline.Ingestion.Stack)
	granted := map[string]string{} // action -> the JSON of every resource it is granted on
	for _, pol := range Resources(ing, "AWS::IAM::Policy") {
		roles, _ := json.Marshal(Props(pol)["Roles"])
		if !strings.Contains(string(roles), "ConnectorRole") {
			continue
		}
		doc := Props(pol)["PolicyDocument"].(map[string]interface{})
		for _, st := range doc["Statement"].([]interface{}) {
			stmt := st.(map[string]interface{})
			actions, ok := stmt["Action"].([]interface{})
			if !ok {
				actions = []interface{}{stmt["Action"]}
			}
			res, _ := json.Marshal(stmt["Resource"])
			for _, a := range actions {
				granted[a.(string)] += string(res)
			}
		}
	}
	for _, prefix := range stacks.MskConnectInternalPrefixes {
		for _, a := range []string{"kafka-cluster:CreateTopic", "kafka-cluster:WriteData", "kafka-cluster:ReadData", "kafka-cluster:DescribeTopic"} {
			assert.Contains(t, granted[a], ":topic/", a)
			assert.Contains(t, granted[a], "/"+prefix+`*"`, "%s on %s*", a, prefix)
		}
		for _, a := range []string{"kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"} {
			assert.Contains(t, granted[a], ":group/", a)
			assert.Contains(t, granted[a], "/"+prefix+`*"`, "%s on %s*", a, prefix)
		}
	}
	assert.ElementsMatch(t, []string{"__amazon_msk_connect_", "__msk_connect_"}, stacks.MskConnectInternalPrefixes)
}
