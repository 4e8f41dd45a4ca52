package test

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

// iamContext deploys with apiAuth=iam and the emulator on (default scheduler: MWAA).
var iamContext = map[string]interface{}{"apiAuth": "iam", "emulator": true}

// rolePolicy is the statements of every AWS::IAM::Policy attached to role (a logical id).
func rolePolicy(t *testing.T, tmpl map[string]interface{}, role string) []map[string]interface{} {
	t.Helper()
	var out []map[string]interface{}
	want := toJSON(t, map[string]interface{}{"Ref": role})
	for _, r := range Resources(tmpl, "AWS::IAM::Policy") {
		p := Props(r)
		attached := false
		for _, x := range list(p["Roles"]) {
			attached = attached || toJSON(t, x) == want
		}
		if !attached {
			continue
		}
		for _, st := range list(p["PolicyDocument"].(map[string]interface{})["Statement"]) {
			out = append(out, st.(map[string]interface{}))
		}
	}
	return out
}

// grants lists "Effect action resource" for every action and resource of statements.
func grants(t *testing.T, stmts []map[string]interface{}) []string {
	var out []string
	for _, st := range stmts {
		for _, a := range list(st["Action"]) {
			for _, r := range list(st["Resource"]) {
				out = append(out, st["Effect"].(string)+" "+a.(string)+" "+toJSON(t, r))
			}
		}
	}
	sort.Strings(out)
	return out
}

// kinesisRoles maps each Kinesis integration's action (from its URI) to its credentials role.
func kinesisRoles(t *testing.T, tmpl map[string]interface{}) map[string]string {
	roles := map[string]string{}
	for _, r := range Resources(tmpl, "AWS::ApiGateway::Method") {
		in, _ := Props(r)["Integration"].(map[string]interface{})
		uri := toJSON(t, in["Uri"])
		m := regexp.MustCompile(`:kinesis:action/(\w+)`).FindStringSubmatch(uri)
		if m == nil {
			continue
		}
		cred, _ := in["Credentials"].(map[string]interface{})
		getAtt, _ := cred["Fn::GetAtt"].([]interface{})
		require.Len(t, getAtt, 2, "%s: credentials %v", m[1], in["Credentials"])
		roles[m[1]] = getAtt[0].(string)
	}
	return roles
}

const streamPrefixArn = `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":kinesis:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":stream/streaming-demo-*"]]}`

// Finding 8: CreateStream works for streaming-<userId>-* names; the pipeline's three streams can
// never be deleted through the API; the data routes' role can neither create nor delete.
func TestKinesisApiRolesPerRoute(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.TemplateJSON(t, s.Pipeline.Ingestion.Stack)
	roles := kinesisRoles(t, tmpl)
	require.Len(t, roles, 6, "six Kinesis routes: %v", roles)
	data := roles["PutRecord"]
	for _, a := range []string{"ListStreams", "DescribeStream", "PutRecords"} {
		assert.Equal(t, data, roles[a], "%s uses the data role", a)
	}
	assert.NotEqual(t, data, roles["CreateStream"])
	assert.NotEqual(t, data, roles["DeleteStream"])
	assert.NotEqual(t, roles["CreateStream"], roles["DeleteStream"])

	assert.Equal(t, []string{
		"Allow kinesis:DescribeStream " + streamPrefixArn,
		"Allow kinesis:DescribeStreamSummary " + streamPrefixArn,
		"Allow kinesis:ListStreams \"*\"",
		"Allow kinesis:PutRecord " + streamPrefixArn,
		"Allow kinesis:PutRecords " + streamPrefixArn,
	}, grants(t, rolePolicy(t, tmpl, data)), "data role")
	assert.Equal(t, []string{"Allow kinesis:CreateStream " + streamPrefixArn},
		grants(t, rolePolicy(t, tmpl, roles["CreateStream"])), "CreateStream role")

	del := grants(t, rolePolicy(t, tmpl, roles["DeleteStream"]))
	var denied []string
	for _, g := range del {
		if strings.HasPrefix(g, "Deny kinesis:DeleteStream ") {
			denied = append(denied, g)
		}
	}
	assert.Contains(t, del, "Allow kinesis:DeleteStream "+streamPrefixArn)
	require.Len(t, denied, 3, "DeleteStream role: %v", del)
	for i, k := range []string{"Geo", "Pin", "User"} {
		assert.Regexp(t, `Pinpipe-demo-Storage:ExportsOutputFnGetAttStream`+k+`[0-9A-F]+Arn`, denied[i])
	}
	assert.Len(t, del, 4, "nothing else: %v", del)
	// Every role API Gateway assumes is one of the three.
	for id, r := range Resources(tmpl, "AWS::IAM::Role") {
		if strings.Contains(toJSON(t, Props(r)["AssumeRolePolicyDocument"]), "apigateway.amazonaws.com") {
			assert.Contains(t, []string{data, roles["CreateStream"], roles["DeleteStream"]}, id)
		}
	}
}

// instanceUserData is the proxy instance's user data with its deploy-time values as JSON.
func instanceUserData(t *testing.T, r map[string]interface{}) string {
	parts := Props(r)["UserData"].(map[string]interface{})["Fn::Base64"].(map[string]interface{})["Fn::Join"].([]interface{})[1].([]interface{})
	var b strings.Builder
	for _, p := range parts {
		if s, ok := p.(string); ok {
			b.WriteString(s)
		} else {
			b.WriteString(toJSON(t, p))
		}
	}
	return b.String()
}

// Finding 9: the proxy host is created only when its boot signals success after real checks;
// the load balancer's health check asks something that needs Kafka; the role holds what the
// checks and the README's commands run.
func TestProxyReadinessSignal(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.TemplateJSON(t, s.Pipeline.Ingestion.Stack)
	id := onlyResource(t, tmpl, "AWS::EC2::Instance", nil)
	inst := Resources(tmpl, "AWS::EC2::Instance")[id]
	assert.Equal(t, map[string]interface{}{"ResourceSignal": map[string]interface{}{"Count": 1.0, "Timeout": "PT25M"}}, inst["CreationPolicy"])
	ud := instanceUserData(t, inst)
	assert.Contains(t, ud, "\nCFN_RESOURCE='"+id+"'\n", "cfn-signal names the instance's own logical id")
	assert.Contains(t, ud, "\nCFN_STACK='"+*s.Pipeline.Ingestion.Stack.StackName()+"'\n")
	for _, step := range []string{"\n\twait_for_topics\n", "\n\tproduce_probe\n", "(kafka_cli kafka-topics.sh --command-config",
		"(kafka_cli kafka-console-consumer.sh --consumer.config", "\n\tsignal 0 "} {
		assert.Contains(t, ud, step, "the boot runs %s", step)
	}
	// cfn-signal comes after every check; a failure signals 1 from the EXIT trap.
	assert.Less(t, strings.LastIndex(ud, "(kafka_cli kafka-console-consumer.sh"), strings.LastIndex(ud, "\n\tsignal 0 "))
	assert.Contains(t, ud, `signal 1 "boot failed`)

	tg := Props(Resources(tmpl, "AWS::ElasticLoadBalancingV2::TargetGroup")[onlyResource(t, tmpl, "AWS::ElasticLoadBalancingV2::TargetGroup", nil)])
	assert.Equal(t, "HTTP", tg["HealthCheckProtocol"])
	assert.Equal(t, "/topics", tg["HealthCheckPath"], "GET /topics needs the brokers")
	assert.Equal(t, map[string]interface{}{"HttpCode": "200"}, tg["Matcher"])

	role := ""
	for rid, r := range Resources(tmpl, "AWS::IAM::Role") {
		if strings.Contains(toJSON(t, Props(r)["RoleName"]), "rest-proxy") {
			role = rid
		}
	}
	require.NotEmpty(t, role)
	g := strings.Join(grants(t, rolePolicy(t, tmpl, role)), "\n")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Allow cloudformation:SignalResource \{"Ref":"AWS::StackId"\}`),
		regexp.MustCompile(`Allow kafka-cluster:ReadData .*:topic/.*"/demo\.\*"`),
		regexp.MustCompile(`Allow kafka-cluster:WriteData .*:topic/.*"/demo\.\*"`),
		regexp.MustCompile(`Allow kafka-cluster:AlterGroup .*:group/.*"/demo\.\*"`),
		regexp.MustCompile(`Allow kafka-cluster:DescribeGroup .*:group/.*"/demo\.\*"`),
		regexp.MustCompile(`Allow kafka-cluster:AlterGroup .*:group/.*"/console-consumer-\*"`),
		regexp.MustCompile(`Allow kafka-cluster:DescribeTopic .*"/demo\.\*"`),
		regexp.MustCompile(`Allow kafka-cluster:WriteDataIdempotently `),
	} {
		assert.Regexp(t, want, g)
	}
	assert.Contains(t, ud, "GROUP_PREFIX='demo.'", "the consumer groups the role allows")
}

// Finding 11: the software the proxy host installs as root is checked against digests fixed at
// synth time (the published ones for the default versions), and the connector zip's function is
// told whether a digest is required.
func TestDownloadsArePinned(t *testing.T) {
	s := Synth(t, nil)
	tmpl := s.TemplateJSON(t, s.Pipeline.Ingestion.Stack)
	ud := instanceUserData(t, Resources(tmpl, "AWS::EC2::Instance")[onlyResource(t, tmpl, "AWS::EC2::Instance", nil)])
	for _, want := range []string{
		"\nKAFKA_URL='https://archive.apache.org/dist/kafka/3.6.0/kafka_2.13-3.6.0.tgz'\n",
		"\nKAFKA_SHA512='98d20f475bccc11eb3cf05362112c788eea7bfc88abddba66cfcfb48880d3bb97918a90d44eb7c1720527bebca93dd231002b5159876f6ee8b7fcd91cc1b0644'\n",
		"\nCONFLUENT_SHA256='ae9a81f3cc914a21b977abeff1fa4778bf79a2c2dc8f5fc822e2da15d960bb92'\n",
		"\nMSK_IAM_AUTH_SHA256_URL='https://github.com/aws/aws-msk-iam-auth/releases/download/v2.3.2/aws-msk-iam-auth-2.3.2-all.jar.sha256'\n",
		`"${algo}sum" --check --strict`,
	} {
		assert.Contains(t, ud, want)
	}
	// Nothing is unpacked or used before it is verified: unpack/fetch_verified are the only
	// downloaders the boot calls.
	for _, line := range strings.Split(ud, "\n") {
		if strings.Contains(line, "download \"$") {
			assert.Regexp(t, `^\t+(download "\$url" "\$out\.unverified" \|\| return|if ! download "\$sums" "\$out\.sums".*)$`, line)
		}
	}
	zip := Props(Resources(tmpl, "Custom::ConnectorZip")[onlyResource(t, tmpl, "Custom::ConnectorZip", nil)])
	assert.Equal(t, "true", zip["Unpinned"], "no published digest of connector 10.0.3 is known (README)")

}

// resourcePolicies are the statements of every resource policy in tmpl: bucket and topic
// policies and key policies, by "<logical id> <type>".
func resourcePolicies(tmpl map[string]interface{}) map[string][]map[string]interface{} {
	out := map[string][]map[string]interface{}{}
	docs := map[string]string{"AWS::S3::BucketPolicy": "PolicyDocument", "AWS::SNS::TopicPolicy": "PolicyDocument",
		"AWS::SQS::QueuePolicy": "PolicyDocument", "AWS::KMS::Key": "KeyPolicy", "AWS::Logs::ResourcePolicy": "PolicyDocument",
		"AWS::SecretsManager::ResourcePolicy": "ResourcePolicy"}
	for typ, field := range docs {
		for id, r := range Resources(tmpl, typ) {
			doc, _ := Props(r)[field].(map[string]interface{})
			for _, st := range list(doc["Statement"]) {
				out[id+" "+typ] = append(out[id+" "+typ], st.(map[string]interface{}))
			}
		}
	}
	return out
}

// Finding 12: every resource-policy statement that lets an AWS service in says on whose behalf:
// aws:SourceArn (with aws:SourceAccount), or, where the service's requests carry no source keys
// (EventBridge's KMS calls for an SNS topic, as the SNS developer guide says), the topic through
// KMS's encryption context.
func TestResourcePoliciesNameTheirSource(t *testing.T) {
	checked := 0
	for _, ctx := range []map[string]interface{}{nil, variant, iamContext} {
		s := Synth(t, ctx)
		for _, st := range append(s.Pipeline.ProcessingStacks(), s.Pipeline.Storage.Stack, s.Pipeline.Ingestion.Stack,
			s.Pipeline.Kafka.Stack, s.Pipeline.Network.Stack) {
			for where, stmts := range resourcePolicies(s.TemplateJSON(t, st)) {
				for _, stmt := range stmts {
					p, _ := stmt["Principal"].(map[string]interface{})
					if stmt["Effect"] != "Allow" || p["Service"] == nil {
						continue
					}
					checked++
					cond := toJSON(t, stmt["Condition"])
					svc := toJSON(t, p["Service"])
					name := *st.StackName() + " " + where + " " + svc
					if strings.Contains(where, "AWS::KMS::Key") && svc == `"events.amazonaws.com"` {
						assert.Contains(t, cond, `"kms:EncryptionContext:aws:sns:topicArn"`, name)
						continue
					}
					assert.Contains(t, cond, `"aws:SourceArn"`, name)
					assert.Contains(t, cond, `"aws:SourceAccount"`, name)
					if svc == `"logging.s3.amazonaws.com"` {
						var c map[string]map[string]interface{}
						require.NoError(t, json.Unmarshal([]byte(cond), &c))
						src := toJSON(t, c["ArnLike"]["aws:SourceArn"])
						assert.NotContains(t, src, "*", "%s: log delivery from one bucket: %s", name, src)
					}
				}
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 10)
}

// Finding 13: apiAuth=iam puts every route behind SigV4 (no API key, no usage plan), and the
// emulator signs as its role, which may invoke exactly the routes it posts to; apiAuth=key keeps
// the key on the data routes and IAM on stream administration.
func TestApiAuthModes(t *testing.T) {
	s := Synth(t, iamContext)
	if v := s.ValidationViolations(t); len(v) > 0 {
		t.Errorf("built-in CloudFormation validation reported:\n%v", v)
	}
	for _, st := range append(s.Pipeline.ProcessingStacks(), s.Pipeline.Ingestion.Stack) {
		s.RequireNoNagFindings(t, st)
	}
	ing := s.TemplateJSON(t, s.Pipeline.Ingestion.Stack)
	methods := Resources(ing, "AWS::ApiGateway::Method")
	require.Len(t, methods, 7)
	for id, r := range methods {
		assert.Equal(t, "AWS_IAM", Props(r)["AuthorizationType"], id)
		assert.NotEqual(t, true, Props(r)["ApiKeyRequired"], id)
	}
	assert.Empty(t, Resources(ing, "AWS::ApiGateway::ApiKey"))
	assert.Empty(t, Resources(ing, "AWS::ApiGateway::UsagePlan"))
	assert.Nil(t, ing["Outputs"].(map[string]interface{})["ApiKeyId"])

	em := s.TemplateJSON(t, s.Pipeline.Emulator.Stack)
	Snapshot(t, "emulator-iam", em)
	assert.Empty(t, Resources(em, "AWS::SecretsManager::Secret"))
	assert.Empty(t, Resources(em, "AWS::ApiGateway::ApiKey"))
	fns := Resources(em, "AWS::Lambda::Function")
	require.Len(t, fns, 2)
	for _, r := range fns {
		p := Props(r)
		env := p["Environment"].(map[string]interface{})["Variables"].(map[string]interface{})
		assert.Equal(t, "true", env["PINPIPE_SIGV4"])
		assert.Nil(t, env["PINPIPE_API_KEY_SECRET_ARN"])
		role := p["Role"].(map[string]interface{})["Fn::GetAtt"].([]interface{})[0].(string)
		var invoke []string
		for _, g := range grants(t, rolePolicy(t, em, role)) {
			if strings.Contains(g, "execute-api") {
				invoke = append(invoke, g)
			}
		}
		var want []string
		for _, k := range record.Kinds {
			route := "/POST/topics/demo." + string(k)
			if env["PINPIPE_MODE"] == "stream" {
				route = "/PUT/streams/streaming-demo-" + string(k) + "/record"
			}
			want = append(want, route)
		}
		sort.Strings(want)
		require.Len(t, invoke, 3, "%s: %v", env["PINPIPE_MODE"], invoke)
		for i, g := range invoke {
			assert.True(t, strings.HasPrefix(g, "Allow execute-api:Invoke "), g)
			assert.Contains(t, g, `:execute-api:`)
			assert.Contains(t, g, `"/prod`+want[i]+`"`, "exactly the route, on the prod stage: %s", g)
		}
	}

	key := Synth(t, nil).TemplateJSON(t, Synth(t, nil).Pipeline.Ingestion.Stack)
	for id, r := range Resources(key, "AWS::ApiGateway::Method") {
		p := Props(r)
		admin := strings.Contains(toJSON(t, p["Integration"]), "action/CreateStream") || strings.Contains(toJSON(t, p["Integration"]), "action/DeleteStream")
		if admin {
			assert.Equal(t, "AWS_IAM", p["AuthorizationType"], id)
		} else {
			assert.Equal(t, "NONE", p["AuthorizationType"], id)
			assert.Equal(t, true, p["ApiKeyRequired"], id)
		}
	}
}
