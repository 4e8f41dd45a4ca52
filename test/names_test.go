package test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/stacks"
)

// Physical names and the scope each service keeps them unique in (issue 9, findings 2 and 5).
//
// nameScope says where a name must be unique: "global" (all accounts: S3 buckets), "account"
// (all regions of an account: IAM, CloudWatch dashboards), "region" (one account and region),
// or a property path of the same resource that qualifies the name (a topic is unique in its
// cluster, a Glue table in its database). "shared" marks names the service allows twice.
type nameProp struct{ path, scope string }

var namedResourceProps = map[string][]nameProp{
	"AWS::S3::Bucket":                           {{"/BucketName", "global"}},
	"AWS::IAM::Role":                            {{"/RoleName", "account"}},
	"AWS::IAM::ManagedPolicy":                   {{"/ManagedPolicyName", "account"}},
	"AWS::IAM::InstanceProfile":                 {{"/InstanceProfileName", "account"}},
	"AWS::CloudWatch::Dashboard":                {{"/DashboardName", "account"}},
	"AWS::Kinesis::Stream":                      {{"/Name", "region"}},
	"AWS::KinesisFirehose::DeliveryStream":      {{"/DeliveryStreamName", "region"}},
	"AWS::MSK::Cluster":                         {{"/ClusterName", "region"}},
	"AWS::MSK::Topic":                           {{"/TopicName", "/ClusterArn"}},
	"AWS::KafkaConnect::Connector":              {{"/ConnectorName", "region"}},
	"AWS::KafkaConnect::CustomPlugin":           {{"/Name", "region"}},
	"AWS::EC2::LaunchTemplate":                  {{"/LaunchTemplateName", "region"}},
	"AWS::EC2::SecurityGroup":                   {{"/GroupName", "/VpcId"}},
	"AWS::ECS::Cluster":                         {{"/ClusterName", "region"}},
	"AWS::ECS::TaskDefinition":                  {{"/Family", "region"}},
	"AWS::MWAA::Environment":                    {{"/Name", "region"}},
	"AWS::Athena::WorkGroup":                    {{"/Name", "region"}},
	"AWS::Glue::Database":                       {{"/DatabaseInput/Name", "region"}},
	"AWS::Glue::Table":                          {{"/TableInput/Name", "/DatabaseName"}},
	"Custom::IcebergTable":                      {{"/TableInput/Name", "/DatabaseName"}},
	"AWS::Logs::LogGroup":                       {{"/LogGroupName", "region"}},
	"AWS::Logs::LogStream":                      {{"/LogStreamName", "/LogGroupName"}},
	"AWS::SecretsManager::Secret":               {{"/Name", "region"}},
	"AWS::Scheduler::Schedule":                  {{"/Name", "region"}},
	"AWS::Events::Rule":                         {{"/Name", "region"}},
	"AWS::SNS::Topic":                           {{"/TopicName", "region"}, {"/DisplayName", "shared"}},
	"AWS::KMS::Alias":                           {{"/AliasName", "region"}},
	"AWS::Lambda::Function":                     {{"/FunctionName", "region"}},
	"AWS::ElasticLoadBalancingV2::LoadBalancer": {{"/Name", "region"}},
	"AWS::ElasticLoadBalancingV2::TargetGroup":  {{"/Name", "region"}},
	"AWS::ApiGateway::RequestValidator":         {{"/Name", "/RestApiId"}},
	"AWS::ApiGateway::Model":                    {{"/Name", "/RestApiId"}},
	"AWS::ApiGateway::Stage":                    {{"/StageName", "/RestApiId"}},
	"AWS::IAM::Policy":                          {{"/PolicyName", "shared"}}, // inline: unique per role, roles are generated
	"AWS::ApiGateway::RestApi":                  {{"/Name", "shared"}},
	"AWS::ApiGateway::ApiKey":                   {{"/Name", "shared"}},
	"AWS::ApiGateway::UsagePlan":                {{"/UsagePlanName", "shared"}},
	"AWS::ApiGateway::VpcLink":                  {{"/Name", "shared"}},
	"AWS::Athena::NamedQuery":                   {{"/Name", "shared"}},
}

// nameReferences are top-level properties ending in "Name" that name another resource, not this
// one; every other such property must be classified in namedResourceProps.
var nameReferences = map[string]bool{
	"AWS::Glue::Table/DatabaseName":                     true,
	"AWS::Lambda::Permission/FunctionName":              true,
	"AWS::Logs::LogStream/LogGroupName":                 true,
	"AWS::EC2::FlowLog/LogGroupName":                    true,
	"AWS::EC2::VPCEndpoint/ServiceName":                 true,
	"Custom::IcebergTable/DatabaseName":                 true,
	"Custom::S3AutoDeleteObjects/BucketName":            true,
	"Custom::CDKBucketDeployment/DestinationBucketName": true,
}

// env is what the CloudFormation pseudo parameters resolve to in one deployment.
type env struct{ account, region string }

// eval is the value of a CloudFormation expression in tmpl, as it would be in e: literals,
// pseudo parameters, Fn::Join, Fn::Select/Fn::Split of those, and the Name of a
// Custom::PhysicalName as "<Prefix>-<digest>". ok is false for values only known after
// deployment (a Ref or GetAtt of another resource: CloudFormation generated it, unique).
func eval(tmpl map[string]interface{}, e env, v interface{}) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return fmt.Sprint(x), true
	case map[string]interface{}:
		if ref, ok := x["Ref"].(string); ok {
			switch ref {
			case "AWS::Region":
				return e.region, true
			case "AWS::AccountId":
				return e.account, true
			case "AWS::Partition":
				return "aws", true
			case "AWS::URLSuffix":
				return "amazonaws.com", true
			}
			return "", false
		}
		if j, ok := x["Fn::Join"].([]interface{}); ok {
			var parts []string
			for _, p := range j[1].([]interface{}) {
				s, ok := eval(tmpl, e, p)
				if !ok {
					return "", false
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, j[0].(string)), true
		}
		if g, ok := x["Fn::GetAtt"].([]interface{}); ok && g[1] == "Name" {
			r, _ := tmpl["Resources"].(map[string]interface{})[g[0].(string)].(map[string]interface{})
			if r["Type"] == "Custom::PhysicalName" {
				prefix, ok := eval(tmpl, e, Props(r)["Prefix"])
				return prefix + "-<digest of its create-only properties>", ok
			}
		}
	}
	return "", false
}

// pointer is the value at JSON pointer path in properties (nil when absent).
func pointer(props map[string]interface{}, path string) interface{} {
	var cur interface{} = props
	for _, part := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// lowerPath is a JSON pointer with each segment's first letter in lower case (see lowerKeys).
func lowerPath(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToLower(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "/")
}

// lowerKeys is v with every object key's first letter in lower case: a custom resource's
// properties render CDK structs with their (camelCase) field names, where the resource itself
// has CloudFormation's PascalCase property names; the values are the same.
func lowerKeys(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		out := map[string]interface{}{}
		for k, e := range x {
			if len(k) > 0 && !strings.HasPrefix(k, "Fn::") && k != "Ref" {
				k = strings.ToLower(k[:1]) + k[1:]
			}
			out[k] = lowerKeys(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			out[i] = lowerKeys(e)
		}
		return out
	}
	return v
}

// namedResource is one explicit physical name of a synthesized app.
type namedResource struct {
	stack, id, typ, path, scope string
	name                        string // evaluated in the synthesis's env
	qualifier                   string // evaluated scope property, for scopes given by a path
}

// physicalNamesOf lists the explicit names of every stack of s (the account stack aside: it is
// one per account and region by design, see TestAccountPrerequisites) evaluated in e; it fails
// the test on a "...Name" property nobody classified.
func physicalNamesOf(t *testing.T, s *Synthesis, e env) []namedResource {
	t.Helper()
	var out []namedResource
	for stack, tmpl := range s.Templates(t) {
		if stack == stacks.AccountStackName {
			continue
		}
		res, _ := tmpl["Resources"].(map[string]interface{})
		for id, r := range res {
			rm := r.(map[string]interface{})
			typ := rm["Type"].(string)
			props := Props(rm)
			classified := map[string]bool{}
			for _, np := range namedResourceProps[typ] {
				classified[strings.TrimPrefix(np.path, "/")] = true
				v := pointer(props, np.path)
				if v == nil {
					continue
				}
				name, ok := eval(tmpl, e, v)
				if !ok {
					continue // built from a generated name: unique
				}
				n := namedResource{stack: stack, id: id, typ: typ, path: np.path, scope: np.scope, name: name}
				if strings.HasPrefix(np.scope, "/") {
					q, ok := eval(tmpl, e, pointer(props, np.scope))
					if !ok {
						continue // in a parent this deployment created: unique
					}
					n.qualifier = q
				}
				out = append(out, n)
			}
			for k := range props {
				if strings.HasSuffix(k, "Name") && !classified[k] && !nameReferences[typ+"/"+k] {
					t.Errorf("%s %s (%s) has property %s: classify it in namedResourceProps or nameReferences", stack, id, typ, k)
				}
			}
		}
	}
	return out
}

// key is where a name must be unique: two names with the same key in two deployments collide.
func (n namedResource) key(e env) string {
	switch n.scope {
	case "global":
		return n.typ + " " + n.name
	case "account":
		return n.typ + " " + e.account + " " + n.name
	case "region":
		return n.typ + " " + e.account + " " + e.region + " " + n.name
	default:
		return n.typ + " " + e.account + " " + e.region + " " + n.qualifier + " " + n.name
	}
}

// Every explicit physical name is unique per (account, region, userId) at the scope its
// service keeps names unique in: one userId deploys to two regions of an account, and two
// userIds deploy to one region, without a name colliding (issue 9, finding 2: the launch
// template ProxyLaunchTemplate, the IAM role pinpipe-<u>-rest-proxy and the dashboard collided).
func TestPhysicalNamesUnique(t *testing.T) {
	const account = "123456789012"
	deployments := []struct {
		userID string
		e      env
	}{
		{"demo", env{account, "us-east-1"}},
		{"demo", env{account, "eu-west-1"}},
		{"team-a", env{account, "us-east-1"}},
	}
	owner := map[string]string{}
	for _, d := range deployments {
		s := SynthIn(t, map[string]interface{}{"userId": d.userID}, d.e.account, d.e.region)
		names := physicalNamesOf(t, s, d.e)
		require.NotEmpty(t, names)
		who := d.userID + " in " + d.e.region
		seen := map[string]bool{}
		for _, n := range names {
			if n.scope == "shared" {
				continue
			}
			k := n.key(d.e)
			if seen[k] {
				t.Errorf("%s: %s %s%s %q is declared twice", who, n.typ, n.id, n.path, n.name)
			}
			seen[k] = true
			if prev, ok := owner[k]; ok {
				t.Errorf("%s %q (%s scope) of %s collides with the one of %s (%s %s)", n.typ, n.name, n.scope, who, prev, n.stack, n.id)
			}
		}
		for k := range seen {
			owner[k] = who
		}
	}
}

// createOnlyExempt are create-only properties of named resources whose change does not need a
// new name, each with the reason.
var createOnlyExempt = map[string]string{
	// The name is unique within these: a change moves the name into another scope.
	"AWS::Glue::Table/DatabaseName":               "the table name is unique per database",
	"AWS::Glue::Table/CatalogId":                  "the table name is unique per catalog (account)",
	"AWS::Glue::Database/CatalogId":               "the database name is unique per catalog (account)",
	"AWS::MSK::Topic/ClusterArn":                  "the topic name is unique per cluster",
	"AWS::ApiGateway::RequestValidator/RestApiId": "the validator name is unique per API",
	"AWS::ApiGateway::Model/RestApiId":            "the model name is unique per API",
	"AWS::ApiGateway::Stage/RestApiId":            "the stage name is unique per API",
	// kinesisapi declares its models with the constant content type application/json (no
	// setting changes it); the models' names are what the methods' RequestModels refer to.
	"AWS::ApiGateway::Model/ContentType": "a constant of constructs/kinesisapi",
	"AWS::Logs::LogStream/LogGroupName":  "the stream name is unique per log group",
	// Every change to a task definition is a new revision of the same family: a family is not a
	// unique name.
	"AWS::ECS::TaskDefinition/*": "a replaced task definition is a new revision of the same family",
	// The names of these are not unique at all.
	"AWS::ApiGateway::ApiKey/*": "API key names need not be unique",
	"AWS::Athena::NamedQuery/*": "named query names need not be unique",
	"AWS::IAM::Role/Path":       "the path is fixed (/) by the app",
	"AWS::MSK::Topic/ReplicationFactor": "topic names are the data contract (<userId>.pin|geo|user): a replication factor " +
		"cannot change after the first deploy (README, topicReplicationFactor)",
}

// Every resource with an explicit name and create-only properties gets a new name whenever one
// of them changes, so that CloudFormation's create-before-delete replacement does not fail on
// the name (issue 9, finding 5: the MSK Connect connector kept its name when its bootstrap
// servers, subnets or role changed). Which properties are create-only comes from the
// CloudFormation registry schemas (npm @aws-cdk/aws-service-spec); a name that follows them is a
// Custom::PhysicalName whose Inputs hold, at the same paths, exactly the values the resource
// declares.
func TestReplacementSafeNames(t *testing.T) {
	reg := LoadRegistry(t)
	checked := 0
	for _, ctx := range []map[string]interface{}{nil, variantContext()} {
		s := Synth(t, ctx)
		for stack, tmpl := range s.Templates(t) {
			res, _ := tmpl["Resources"].(map[string]interface{})
			for id, r := range res {
				rm := r.(map[string]interface{})
				typ := rm["Type"].(string)
				props := Props(rm)
				for _, np := range namedResourceProps[typ] {
					nameValue := pointer(props, np.path)
					if nameValue == nil || np.scope == "shared" {
						continue
					}
					createOnly, known := reg.CreateOnly(typ)
					if !known {
						continue // a custom resource: no registry schema
					}
					var inputs map[string]interface{}
					nameExpr, _ := nameValue.(map[string]interface{})
					if g, ok := nameExpr["Fn::GetAtt"].([]interface{}); ok {
						if pn, _ := res[g[0].(string)].(map[string]interface{}); pn["Type"] == "Custom::PhysicalName" {
							inputs, _ = Props(pn)["Inputs"].(map[string]interface{})
						}
					}
					for _, path := range createOnly {
						if path == np.path || createOnlyExempt[typ+path] != "" || createOnlyExempt[typ+"/*"] != "" {
							continue
						}
						want := pointer(props, path)
						if want == nil {
							continue // not declared: it cannot change
						}
						checked++
						if inputs == nil {
							t.Errorf("%s %s (%s): create-only %s is declared, but the name %s does not follow it", stack, id, typ, path, toJSON(t, nameValue))
							continue
						}
						// The path itself, or an ancestor holding it, must be an input.
						var got interface{}
						found := false
						for p := path; p != "" && !found; p = p[:strings.LastIndex(p, "/")] {
							if v, ok := inputs[p]; ok {
								got = pointer(lowerKeys(map[string]interface{}{"v": v}).(map[string]interface{}),
									"/v"+lowerPath(strings.TrimPrefix(path, p)))
								found = true
							}
						}
						want = lowerKeys(want)
						if !found {
							t.Errorf("%s %s (%s): the name does not follow create-only %s", stack, id, typ, path)
						} else if !reflect.DeepEqual(want, got) {
							t.Errorf("%s %s (%s): the name follows %s = %s, the resource declares %s", stack, id, typ, path, toJSON(t, got), toJSON(t, want))
						}
					}
				}
			}
		}
	}
	// The connector alone has ten create-only properties declared.
	assert.Greater(t, checked, 10)
	t.Logf("%d create-only properties of named resources checked", checked)
}

// The account-level setting every API stage that logs needs is declared once per account and
// region: AWS::ApiGateway::Account with a role API Gateway can assume, in a stack that carries
// no userId (the same template whoever deploys it), kept when deleted, deployed before the
// ingestion stack; or, with apiGatewayCloudWatchRole=false, left to the account (README
// prerequisites) (issue 9, finding 1).
func TestAccountPrerequisites(t *testing.T) {
	// A stage that logs needs the setting.
	logs := func(s *Synthesis) bool {
		for _, tmpl := range s.Templates(t) {
			for _, st := range Resources(tmpl, "AWS::ApiGateway::Stage") {
				if Props(st)["AccessLogSetting"] != nil || Props(st)["MethodSettings"] != nil {
					return true
				}
			}
		}
		return false
	}
	accountSettings := func(s *Synthesis) (stack string, tmpl map[string]interface{}) {
		for name, tm := range s.Templates(t) {
			if len(Resources(tm, "AWS::ApiGateway::Account")) > 0 {
				require.Empty(t, stack, "AWS::ApiGateway::Account in %s and %s", stack, name)
				stack, tmpl = name, tm
			}
		}
		return stack, tmpl
	}

	def := Synth(t, nil)
	require.True(t, logs(def), "the API stage writes access logs")
	stack, tmpl := accountSettings(def)
	require.NotEmpty(t, stack, "no stack declares AWS::ApiGateway::Account, which a logging stage needs")
	assert.Equal(t, stacks.AccountStackName, stack)
	acct := Resources(tmpl, "AWS::ApiGateway::Account")
	require.Len(t, acct, 1)
	for id, a := range acct {
		assert.Equal(t, "Retain", a["DeletionPolicy"], "%s: deleting one userId's stacks must leave the others' logging", id)
		g, ok := Props(a)["CloudWatchRoleArn"].(map[string]interface{})["Fn::GetAtt"].([]interface{})
		require.True(t, ok, "CloudWatchRoleArn is the stack's role")
		role := Resources(tmpl, "AWS::IAM::Role")[g[0].(string)]
		require.NotNil(t, role)
		assert.Equal(t, "Retain", role["DeletionPolicy"])
		assert.Nil(t, Props(role)["RoleName"], "a generated name: a re-created stack never collides with the retained role")
		trust := toJSON(t, Props(role)["AssumeRolePolicyDocument"])
		assert.Contains(t, trust, `"Service":"apigateway.amazonaws.com"`)
		assert.Contains(t, toJSON(t, Props(role)["ManagedPolicyArns"]), "AmazonAPIGatewayPushToCloudWatchLogs")
	}
	// Deployed before the stage that needs it.
	ingestion := *def.Pipeline.Ingestion.ArtifactId()
	assert.Contains(t, def.Dependencies(ingestion), stack)
	def.RequireNoNagFindings(t, def.Pipeline.Account.Stack)
	Snapshot(t, "account", tmpl)

	// The same template for another userId (and with every userId tag left out).
	other := Synth(t, map[string]interface{}{"userId": "team-a"})
	otherStack, otherTmpl := accountSettings(other)
	assert.Equal(t, stack, otherStack)
	assert.Equal(t, toJSON(t, tmpl), toJSON(t, otherTmpl), "two userIds declare different account settings")
	assert.NotContains(t, toJSON(t, tmpl), "pinpipe:user")

	// Turned off: nothing account-wide is declared, and nothing waits for it.
	off := Synth(t, map[string]interface{}{"apiGatewayCloudWatchRole": false})
	offStack, _ := accountSettings(off)
	assert.Empty(t, offStack)
	assert.Nil(t, off.Pipeline.Account)
	for name := range off.Templates(t) {
		assert.NotEqual(t, stacks.AccountStackName, name)
	}
}
