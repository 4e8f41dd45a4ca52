package test

// Control inputs for every rehearsal check: small templates and policies that break each rule,
// to show that each checker catches what it should (and passes what it should).

import (
	"encoding/json"
	"strings"
	"testing"
)

// ctlTemplate parses a template literal.
func ctlTemplate(t *testing.T, body string) map[string]interface{} {
	t.Helper()
	var m map[string]interface{}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("control template: %v", err)
	}
	return m
}

func ctlDeploy(t *testing.T, rules *cfnRules, body, account, region string) *Deployment {
	return deployTemplates(rules, []StackTemplate{{Name: "Pinpipe-ctl-Ctl", Template: ctlTemplate(t, body)}}, "ctl", account, region)
}

// wantFindings fails unless each of wants is in one of fs (and fs is empty when wants is).
func wantFindings(t *testing.T, fs []Finding, wants ...string) {
	t.Helper()
	var all []string
	for _, f := range fs {
		all = append(all, f.String())
	}
	joined := strings.Join(all, "\n")
	if len(wants) == 0 && len(fs) > 0 {
		t.Errorf("want no findings, got:\n%s", joined)
	}
	for _, w := range wants {
		if !strings.Contains(joined, w) {
			t.Errorf("want a finding with %q, got:\n%s", w, joined)
		}
	}
}

func TestRehearsalControls(t *testing.T) {
	rules := loadRules(t)

	t.Run("schema", func(t *testing.T) {
		d := ctlDeploy(t, rules, `{"Resources": {
			"Conn": {"Type": "AWS::KafkaConnect::Connector", "Properties": {
				"Capacity": {"ProvisionedCapacity": {"McuCount": 3, "WorkerCount": 1}},
				"ConnectorConfiguration": {"a": "b"}, "ConnectorName": "x", "KafkaConnectVersion": "2.7.1",
				"KafkaCluster": {"ApacheKafkaCluster": {"BootstrapServers": "b:9098", "Vpc": {"SecurityGroups": ["sg-1"], "Subnets": ["subnet-1"]}}},
				"KafkaClusterClientAuthentication": {"AuthenticationType": "IAM"},
				"KafkaClusterEncryptionInTransit": {"EncryptionType": "TLS"},
				"Plugins": [{"CustomPlugin": {"CustomPluginArn": "arn:aws:kafkaconnect:us-east-1:123456789012:custom-plugin/p/1", "Revision": 1}}],
				"ServiceExecutionRoleArn": "arn:aws:iam::123456789012:role/r"}},
			"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketNam": "x",
				"VersioningConfiguration": {"Status": {"Fn::Split": [",", "Enabled,Suspended"]}},
				"AccelerateConfiguration": {"AccelerationStatus": {"Fn::Split": [",", {"Fn::GetAtt": ["Role", "RoleId"]}]}}}},
			"Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": {"Fn::Join": ["", ["a-very-long-role-name-", {"Ref": "AWS::Region"}, "-that-goes-on-and-on-beyond-sixty-four"]]}}},
			"Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"Name": {"Fn::Join": ["-", ["bad name", {"Ref": "AWS::Region"}]]}, "ShardCount": 0}}
		}}`, fakeAccount, fakeRegion)
		ch := &schemaChecker{rules: rules, d: d, stats: &schemaStats{Types: map[string]bool{}}}
		ds := d.Stack("Pinpipe-ctl-Ctl")
		for _, id := range sortedKeysRes(ds.Resources()) {
			ch.CheckResource(ds, id)
		}
		wantFindings(t, ch.out,
			"Conn (AWS::KafkaConnect::Connector) Properties/Capacity/ProvisionedCapacity/McuCount: 3 is not one of the schema's enum [1,2,4,8]",
			`Bucket (AWS::S3::Bucket) Properties: unknown property "BucketNam"`,
			`Properties/VersioningConfiguration/Status: array ["Enabled","Suspended"] where the schema wants string`,
			"Properties/AccelerateConfiguration/AccelerationStatus: Fn::Split yields a array; the schema wants string",
			"Role (AWS::IAM::Role) Properties: required property AssumeRolePolicyDocument is missing",
			`Stream (AWS::Kinesis::Stream) Properties/Name: "bad name-us-east-1" does not match the schema's pattern`,
			"Properties/ShardCount: 0 is below the schema's minimum 1")
	})

	t.Run("names", func(t *testing.T) {
		body := `{"Resources": {
			"Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "pinpipe-ctl-fixed", "AssumeRolePolicyDocument": {}}},
			"Dash": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardName": {"Fn::Sub": "pinpipe-ctl-${AWS::Region}"}, "DashboardBody": "{}"}},
			"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Sub": "pinpipe-ctl-${AWS::Region}"}}},
			"Ok": {"Type": "AWS::Kinesis::Stream", "Properties": {"Name": "streaming-ctl-pin"}},
			"Filter": {"Type": "AWS::Logs::MetricFilter", "Properties": {"FilterName": "ctl-errors", "LogGroupName": "x"}}
		}}`
		fs := nameFindings([]*Deployment{
			ctlDeploy(t, rules, body, fakeAccount, fakeRegion), ctlDeploy(t, rules, body, fakeAccount, fakeRegion2),
			ctlDeploy(t, rules, body, fakeAccount2, fakeRegion)}, &nameStats{})
		wantFindings(t, fs,
			`Role (AWS::IAM::Role) Properties/RoleName: name "pinpipe-ctl-fixed" is also used by Pinpipe-ctl-Ctl/Role in ctl@123456789012/us-east-1: names of AWS::IAM::Role are unique per account`,
			`Bucket (AWS::S3::Bucket) Properties/BucketName: name "pinpipe-ctl-us-east-1" is also used by Pinpipe-ctl-Ctl/Bucket in ctl@123456789012/us-east-1: names of AWS::S3::Bucket are unique per partition`,
			`Filter (AWS::Logs::MetricFilter) Properties/FilterName: a property ending in Name that the names table`,
			`Filter (AWS::Logs::MetricFilter) Properties/LogGroupName: a property ending in Name`)
		for _, f := range fs {
			if f.LogicalID == "Ok" || f.LogicalID == "Dash" && !strings.Contains(f.Where, fakeAccount) {
				t.Errorf("unexpected finding %s", f)
			}
		}
	})

	t.Run("shared stacks", func(t *testing.T) {
		// The GitHub OIDC stack: created in two regions of one account, its provider collides
		// (one per account); deployed by two users with their own tag, one overwrites the other.
		oidc := func(tag string) string {
			return `{"Resources": {"GitHubProvider": {"Type": "AWS::IAM::OIDCProvider", "Properties": {
				"Url": "https://token.actions.githubusercontent.com", "ClientIdList": ["sts.amazonaws.com"],
				"Tags": [{"Key": "pinpipe:user", "Value": "` + tag + `"}]}}}}`
		}
		fs := nameFindings([]*Deployment{ctlDeploy(t, rules, oidc("a"), fakeAccount, fakeRegion), ctlDeploy(t, rules, oidc("a"), fakeAccount, fakeRegion2)}, &nameStats{})
		wantFindings(t, fs, `GitHubProvider (AWS::IAM::OIDCProvider) Properties/Url: name "https://token.actions.githubusercontent.com" is also used by Pinpipe-ctl-Ctl/GitHubProvider in ctl@123456789012/us-east-1: names of AWS::IAM::OIDCProvider are unique per account`)
		fs = nameFindings([]*Deployment{ctlDeploy(t, rules, oidc("a"), fakeAccount, fakeRegion), ctlDeploy(t, rules, oidc("b"), fakeAccount, fakeRegion)}, &nameStats{})
		wantFindings(t, fs, "(stack): stack Pinpipe-ctl-Ctl is also deployed by ctl@123456789012/us-east-1 to this account and region with another template")
		// The same template deployed twice in one account and region is one stack: no finding.
		wantFindings(t, nameFindings([]*Deployment{ctlDeploy(t, rules, oidc("a"), fakeAccount, fakeRegion), ctlDeploy(t, rules, oidc("a"), fakeAccount, fakeRegion)}, &nameStats{}))
	})

	t.Run("replacement", func(t *testing.T) {
		tmpl := func(flush string, name string) string {
			return `{"Resources": {"Conn": {"Type": "AWS::KafkaConnect::Connector", "Properties": {
				"ConnectorName": "` + name + `", "ConnectorConfiguration": {"flush.size": "` + flush + `"},
				"Capacity": {"ProvisionedCapacity": {"McuCount": 1, "WorkerCount": 1}}}}}}`
		}
		a := ctlDeploy(t, rules, tmpl("1", "sink-a"), fakeAccount, fakeRegion)
		wantFindings(t, replacementFindings(rules, a, ctlDeploy(t, rules, tmpl("100", "sink-a"), fakeAccount, fakeRegion), "ctl", &nameStats{}),
			`Conn (AWS::KafkaConnect::Connector) Properties/ConnectorConfiguration: ConnectorConfiguration changes (ConnectorConfiguration/flush.size: "1" → "100")`)
		wantFindings(t, replacementFindings(rules, a, ctlDeploy(t, rules, tmpl("100", "sink-b"), fakeAccount, fakeRegion), "ctl", &nameStats{}))
	})

	t.Run("prerequisites", func(t *testing.T) {
		stage := `"Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"RestApiId": "abc", "AccessLogSetting": {"DestinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:x"}}}`
		s := &Synthesis{Context: map[string]interface{}{}}
		n := 0
		wantFindings(t, prereqFindings(ctlDeploy(t, rules, `{"Resources": {`+stage+`}}`, fakeAccount, fakeRegion), s, "", &n),
			"Stage (AWS::ApiGateway::Stage): needs the API Gateway CloudWatch Logs role")
		role := `"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow",
			"Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
			"Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:a/b:pull_request"}}}]}}}`
		wantFindings(t, prereqFindings(ctlDeploy(t, rules, `{"Resources": {`+role+`}}`, fakeAccount, fakeRegion), s, "", &n),
			"Role (AWS::IAM::Role): needs the account's IAM OIDC provider")
		wantFindings(t, prereqFindings(ctlDeploy(t, rules, `{"Resources": {`+role+`,
			"P": {"Type": "AWS::IAM::OIDCProvider", "Properties": {"Url": "https://token.actions.githubusercontent.com"}}}}`, fakeAccount, fakeRegion), s, "", &n))
		wantFindings(t, prereqFindings(ctlDeploy(t, rules, `{"Resources": {`+stage+`,
			"Account": {"Type": "AWS::ApiGateway::Account", "Properties": {"CloudWatchRoleArn": "arn:aws:iam::123456789012:role/apigw"}}}}`, fakeAccount, fakeRegion), s, "", &n))
	})

	t.Run("iam", func(t *testing.T) {
		d := ctlDeploy(t, rules, `{"Resources": {
			"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}},
			"Oidc": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow",
				"Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}, "Action": "sts:AssumeRoleWithWebIdentity",
				"Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com", "token.actions.githubusercontent.com:subject": "x"}}}]}}},
			"Policy": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyName": "p", "Roles": [{"Ref": "Role"}], "PolicyDocument": {"Statement": [
				{"Effect": "Allow", "Action": ["kinesis:PutRecordz", "s3:Get*Nope*", "kinesis:DeleteStream"], "Resource": "arn:aws:kinesis:*:*:stream/*"},
				{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEquals": {"s3:nonexistentkey": "x", "kinesis:whatever": "y"}}},
				{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": "x", "kms:EncryptionContextz": "y", "aws:SourceAcount": "z"}}},
				{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*", "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "x"}}}
			]}}}
		}}`, fakeAccount, fakeRegion)
		m := buildIAM(d)
		s := &Synthesis{}
		s.Config.UserID = "ctl"
		calls := []iamCall{
			{Principal: "Ctl:Role", Action: "kinesis:DeleteStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-ctl-pin", Allow: false, Why: "control: must be denied"},
			{Principal: "Ctl:Role", Action: "kinesis:PutRecord", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-ctl-pin", Allow: true, Why: "control: must be allowed"},
			{Principal: "Ctl:Role", Action: "kinesis:DeleteStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-ctl-geo",
				Context: map[string]string{"kinesis:nosuchkey": "x"}, Allow: false, Why: "control: a denial for the wrong reason"},
		}
		reqs, byID := requestsFor(t, m, s, "ctl", calls)
		res := runIAMCheck(t, m.Statements, reqs)
		var fs []Finding
		for _, st := range res.Statements {
			for _, p := range st.Problems {
				fs = append(fs, Finding{Check: "iam-data", Stack: st.Where, Rule: p})
			}
		}
		fs = append(fs, iamFindings(res, reqs, byID)...)
		wantFindings(t, fs,
			"action kinesis:PutRecordz does not exist in kinesis",
			"action s3:Get*Nope*: the wildcard matches no s3 action",
			"condition key s3:nonexistentkey does not exist in s3",
			"condition key kinesis:whatever does not exist in kinesis",
			"condition key kms:EncryptionContextz does not exist in kms",
			"condition key aws:SourceAcount is not a global condition key",
			// A token's claim is a key in web-identity trust only, and only a claim IAM documents.
			"condition key token.actions.githubusercontent.com:sub: no IAM service",
			"condition key token.actions.githubusercontent.com:subject: no IAM service",
			"kinesis:DeleteStream arn:aws:kinesis:us-east-1:123456789012:stream/streaming-ctl-pin: Allowed, but must be denied: control: must be denied",
			"kinesis:PutRecord arn:aws:kinesis:us-east-1:123456789012:stream/streaming-ctl-pin: ImplicitlyDenied, but the pipeline needs it: control: must be allowed",
			"the simulator refused the request: the simulator ignores the context keys kinesis:nosuchkey for kinesis:DeleteStream")
		// A key iam-data defines by a pattern (kms:EncryptionContext:${EncryptionContextKey}) is known.
		for _, f := range fs {
			if strings.Contains(f.Rule, "kms:EncryptionContext:aws:sns:topicArn") || strings.Contains(f.Rule, "githubusercontent.com:aud") {
				t.Errorf("a patterned condition key was refused: %s", f)
			}
		}
	})

	t.Run("network", func(t *testing.T) {
		// The proxy path as it was (8082 open to the VPC's CIDR, an NLB without a group), and
		// as it is (the NLB's group the only source; the NLB admits nothing, PrivateLink
		// unfiltered).
		tmpl := func(lbProps, ingress string) string {
			return `{"Resources": {
			"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.40.0.0/16"}},
			"ProxySG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "proxy", "VpcId": {"Ref": "Vpc"}}},
			"NlbSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "nlb", "VpcId": {"Ref": "Vpc"}}},
			"OtherSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "other", "VpcId": {"Ref": "Vpc"}}},
			"In": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": ` + ingress + `},
			"Proxy": {"Type": "AWS::EC2::Instance", "Properties": {"ImageId": "ami-1", "SecurityGroupIds": [{"Fn::GetAtt": ["ProxySG", "GroupId"]}]}},
			"Nlb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Type": "network", "Scheme": "internal"` + lbProps + `}},
			"Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Port": 8082, "Protocol": "TCP", "VpcId": {"Ref": "Vpc"},
				"Targets": [{"Id": {"Ref": "Proxy"}, "Port": 8082}]}},
			"Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {"LoadBalancerArn": {"Ref": "Nlb"}, "Port": 80, "Protocol": "TCP",
				"DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Tg"}}]}},
			"Link": {"Type": "AWS::ApiGateway::VpcLink", "Properties": {"Name": "l", "TargetArns": [{"Ref": "Nlb"}]}}
		}}`
		}
		fromNlb := `{"GroupId": {"Fn::GetAtt": ["ProxySG", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 8082, "ToPort": 8082, "SourceSecurityGroupId": {"Fn::GetAtt": ["NlbSG", "GroupId"]}}`
		withSG := `, "SecurityGroups": [{"Fn::GetAtt": ["NlbSG", "GroupId"]}]`
		run := func(body string) []Finding {
			return networkFindings(ctlDeploy(t, rules, body, fakeAccount, fakeRegion), &netStats{})
		}
		wantFindings(t, run(tmpl("", `{"GroupId": {"Fn::GetAtt": ["ProxySG", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 8082, "ToPort": 8082, "CidrIp": {"Fn::GetAtt": ["Vpc", "CidrBlock"]}}`)),
			"In (ingress): admits cidr:",
			"Nlb (AWS::ElasticLoadBalancingV2::LoadBalancer): has no security group")
		wantFindings(t, run(tmpl(withSG, `{"GroupId": {"Fn::GetAtt": ["ProxySG", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 8000, "ToPort": 9000, "SourceSecurityGroupId": {"Fn::GetAtt": ["OtherSG", "GroupId"]}}`)),
			"target Pinpipe-ctl-Ctl/Proxy port 8082 also admits",
			"target Pinpipe-ctl-Ctl/Proxy port 8082 admits none of the load balancer's groups",
			"evaluates inbound rules on PrivateLink traffic")
		wantFindings(t, run(tmpl(withSG+`, "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "off"`,
			`{"GroupId": {"Fn::GetAtt": ["NlbSG", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "SourceSecurityGroupId": {"Fn::GetAtt": ["OtherSG", "GroupId"]}}`)),
			"is an API Gateway VPC Link's target but its group")
		wantFindings(t, run(tmpl(withSG+`, "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "off"`, fromNlb)))
	})
}
