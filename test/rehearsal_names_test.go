package test

// The names table: for each resource type the app names explicitly, where its name is, how far
// the name must be unique (its scope), and the limits the service puts on it. Scopes and limits
// are from the AWS documentation of each service (the page is named beside each entry); the
// registry schemas state few of them.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// Name scopes.
const (
	// ScopePartition: unique across every account of the partition (S3 bucket names).
	ScopePartition = "partition"
	// ScopeAccount: unique in the account, all regions together (IAM, CloudWatch dashboards).
	ScopeAccount = "account"
	// ScopeRegion: unique per account and region.
	ScopeRegion = "region"
	// ScopeParent: unique within the parent resource named by Parent (per account and region).
	ScopeParent = "parent"
	// ScopeNone: names need not be unique (two resources may share one).
	ScopeNone = "none"
)

// physicalName describes the explicit name of a resource type.
type physicalName struct {
	// Path of the name in Properties ("BucketName", "DatabaseInput/Name").
	Path string
	// Scope of uniqueness; Parent is the property naming the parent for ScopeParent ("" in it
	// means the service default, DefaultParent).
	Scope, Parent, DefaultParent string
	// CaseInsensitive: the service does not tell names apart by case.
	CaseInsensitive bool
	// Max length, and the pattern a name must match ("" when the registry schema states it).
	Max     int
	Pattern string
	// Ref: Ref of the resource returns this name.
	Ref bool
	// Doc is where the scope and limits are documented.
	Doc string
}

var physicalNames = map[string]physicalName{
	"AWS::S3::Bucket": {Path: "BucketName", Scope: ScopePartition, Max: 63, Pattern: `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`, Ref: true,
		Doc: "S3 User Guide, Bucket naming rules: unique across all AWS accounts in all Regions within a partition; 3-63 characters"},
	"AWS::S3::BucketPolicy": {Path: "Bucket", Scope: ScopePartition,
		Doc: "S3 PutBucketPolicy: a bucket has one policy; two policy resources on one bucket overwrite each other"},
	"AWS::IAM::Role": {Path: "RoleName", Scope: ScopeAccount, CaseInsensitive: true, Max: 64, Pattern: `^[\w+=,.@-]+$`, Ref: true,
		Doc: "IAM User Guide, IAM object quotas and names: role names unique in the account, not case-sensitive, 64 characters; IAM is global"},
	"AWS::IAM::ManagedPolicy": {Path: "ManagedPolicyName", Scope: ScopeAccount, CaseInsensitive: true, Max: 128, Pattern: `^[\w+=,.@-]+$`,
		Doc: "IAM User Guide, IAM names: policy names unique in the account, 128 characters"},
	"AWS::IAM::InstanceProfile": {Path: "InstanceProfileName", Scope: ScopeAccount, CaseInsensitive: true, Max: 128, Pattern: `^[\w+=,.@-]+$`, Ref: true,
		Doc: "IAM User Guide, IAM names: instance profile names unique in the account, 128 characters"},
	"AWS::IAM::Policy": {Path: "PolicyName", Scope: ScopeParent, Parent: "Roles", Max: 128, Pattern: `^[\w+=,.@-]+$`,
		Doc: "IAM User Guide: an inline policy's name is unique among the policies of its role"},
	"AWS::CloudWatch::Dashboard": {Path: "DashboardName", Scope: ScopeAccount, Max: 255, Pattern: `^[A-Za-z0-9_-]+$`, Ref: true,
		Doc: "CloudFormation reference AWS::CloudWatch::Dashboard: all dashboards in your account are global, not region-specific; 1-255 of A-Za-z0-9 - _"},
	"AWS::CloudWatch::Alarm": {Path: "AlarmName", Scope: ScopeRegion, Max: 255, Ref: true,
		Doc: "CloudWatch PutMetricAlarm: the name must be unique within the Region of the account; 1-255"},
	"AWS::Kinesis::Stream": {Path: "Name", Scope: ScopeRegion, Max: 128, Pattern: `^[a-zA-Z0-9_.-]+$`, Ref: true,
		Doc: "Kinesis CreateStream: unique in the account and Region; 1-128 of [a-zA-Z0-9_.-]"},
	"AWS::KinesisFirehose::DeliveryStream": {Path: "DeliveryStreamName", Scope: ScopeRegion, Max: 64, Pattern: `^[a-zA-Z0-9._-]+$`, Ref: true,
		Doc: "Firehose CreateDeliveryStream: unique per account and Region; 1-64 of [a-zA-Z0-9_.-]"},
	"AWS::MSK::Cluster": {Path: "ClusterName", Scope: ScopeRegion, Max: 64, Pattern: `^[a-zA-Z0-9-]+$`,
		Doc: "MSK CreateCluster: cluster name 1-64; unique per account and Region"},
	"AWS::MSK::Topic": {Path: "TopicName", Scope: ScopeParent, Parent: "ClusterArn", Max: 249, Pattern: `^[a-zA-Z0-9._-]+$`,
		Doc: "Apache Kafka: topic names unique in a cluster, up to 249 of [a-zA-Z0-9._-]"},
	"AWS::KafkaConnect::Connector": {Path: "ConnectorName", Scope: ScopeRegion, Max: 128, Pattern: `^[a-zA-Z0-9-]+$`,
		Doc: "CloudFormation reference AWS::KafkaConnect::Connector: the connector name must be unique and can include up to 128 characters of a-z, A-Z, 0-9 and -"},
	"AWS::KafkaConnect::CustomPlugin": {Path: "Name", Scope: ScopeRegion, Max: 128,
		Doc: "MSK Connect CreateCustomPlugin: unique per account and Region; 1-128"},
	"AWS::KafkaConnect::WorkerConfiguration": {Path: "Name", Scope: ScopeRegion, Max: 128,
		Doc: "MSK Connect CreateWorkerConfiguration: unique per account and Region; 1-128"},
	"AWS::Lambda::Function": {Path: "FunctionName", Scope: ScopeRegion, Max: 64, Pattern: `^[a-zA-Z0-9_-]+$`, Ref: true,
		Doc: "Lambda CreateFunction: function names unique per account and Region, 64 characters"},
	"AWS::Logs::LogGroup": {Path: "LogGroupName", Scope: ScopeRegion, Max: 512, Pattern: `^[.\-_/#A-Za-z0-9]+$`, Ref: true,
		Doc: "CloudWatch Logs CreateLogGroup: unique within a Region for an account; 1-512 of [.-_/#A-Za-z0-9]"},
	"AWS::Logs::LogStream": {Path: "LogStreamName", Scope: ScopeParent, Parent: "LogGroupName", Max: 512,
		Doc: "CloudWatch Logs CreateLogStream: unique within the log group"},
	"AWS::SNS::Topic": {Path: "TopicName", Scope: ScopeRegion, Max: 256, Pattern: `^[A-Za-z0-9_-]+(\.fifo)?$`,
		Doc: "SNS CreateTopic: names unique in the account and Region; up to 256 of letters, digits, - and _"},
	"AWS::SQS::Queue": {Path: "QueueName", Scope: ScopeRegion, Max: 80, Pattern: `^[A-Za-z0-9_-]+(\.fifo)?$`,
		Doc: "SQS CreateQueue: unique in the account and Region; up to 80 characters"},
	"AWS::SecretsManager::Secret": {Path: "Name", Scope: ScopeRegion, Max: 512,
		Doc: "Secrets Manager CreateSecret: unique within the account and Region; up to 512"},
	"AWS::ECS::Cluster": {Path: "ClusterName", Scope: ScopeRegion, Max: 255, Pattern: `^[a-zA-Z0-9_-]+$`, Ref: true,
		Doc: "ECS CreateCluster: unique in the Region; up to 255 letters, digits, - and _"},
	"AWS::ECS::TaskDefinition": {Path: "Family", Scope: ScopeNone, Max: 255, Pattern: `^[a-zA-Z0-9_-]+$`,
		Doc: "ECS RegisterTaskDefinition: a family holds revisions; registering the same family adds a revision (no conflict)"},
	"AWS::MWAA::Environment": {Path: "Name", Scope: ScopeRegion, Max: 80, Pattern: `^[a-zA-Z][0-9a-zA-Z_-]*$`, Ref: true,
		Doc: "MWAA CreateEnvironment: unique per account and Region; 1-80, starting with a letter"},
	"AWS::Glue::Database": {Path: "DatabaseInput/Name", Scope: ScopeRegion, Max: 255,
		Doc: "Glue Data Catalog: one catalog per account and Region; database names unique in it, 1-255, stored in lower case"},
	"AWS::Glue::Table": {Path: "TableInput/Name", Scope: ScopeParent, Parent: "DatabaseName", Max: 255,
		Doc: "Glue CreateTable: table names unique in their database, 1-255, stored in lower case"},
	"AWS::Athena::WorkGroup": {Path: "Name", Scope: ScopeRegion, Max: 128, Pattern: `^[a-zA-Z0-9._-]{1,128}$`, Ref: true,
		Doc: "Athena CreateWorkGroup: unique per account and Region; 1-128 of [a-zA-Z0-9._-]"},
	"AWS::Athena::NamedQuery": {Path: "Name", Scope: ScopeNone, Max: 128,
		Doc: "Athena CreateNamedQuery: named queries are identified by id; names may repeat"},
	"AWS::EC2::LaunchTemplate": {Path: "LaunchTemplateName", Scope: ScopeRegion, Max: 128, Pattern: `^[a-zA-Z0-9().\-/_]+$`,
		Doc: "EC2 CreateLaunchTemplate: a launch template name must be unique in the account and Region; 3-128 of [a-zA-Z0-9().-/_]"},
	"AWS::EC2::SecurityGroup": {Path: "GroupName", Scope: ScopeParent, Parent: "VpcId", Max: 255,
		Doc: "EC2 CreateSecurityGroup: names unique within the VPC; up to 255"},
	"AWS::ElasticLoadBalancingV2::LoadBalancer": {Path: "Name", Scope: ScopeRegion, Max: 32, Pattern: `^[a-zA-Z0-9][a-zA-Z0-9-]*$`,
		Doc: "ELB CreateLoadBalancer: unique per Region for the account; up to 32 alphanumerics and hyphens"},
	"AWS::ElasticLoadBalancingV2::TargetGroup": {Path: "Name", Scope: ScopeRegion, Max: 32, Pattern: `^[a-zA-Z0-9][a-zA-Z0-9-]*$`,
		Doc: "ELB CreateTargetGroup: unique per Region for the account; up to 32 alphanumerics and hyphens"},
	"AWS::Scheduler::Schedule": {Path: "Name", Scope: ScopeParent, Parent: "GroupName", DefaultParent: "default", Max: 64, Pattern: `^[0-9a-zA-Z-_.]+$`,
		Doc: "EventBridge Scheduler CreateSchedule: unique within its schedule group (default: default); 1-64 of [0-9a-zA-Z-_.]"},
	"AWS::Scheduler::ScheduleGroup": {Path: "Name", Scope: ScopeRegion, Max: 64,
		Doc: "EventBridge Scheduler CreateScheduleGroup: unique per account and Region"},
	"AWS::StepFunctions::StateMachine": {Path: "StateMachineName", Scope: ScopeRegion, Max: 80, Pattern: `^[0-9A-Za-z_-]+$`,
		Doc: "Step Functions CreateStateMachine: the name must be unique for your account and Region; 1-80 characters (pinpipe's names keep to letters, digits, - and _, which CloudWatch Logs also takes in a log group name)"},
	"AWS::Events::Rule": {Path: "Name", Scope: ScopeParent, Parent: "EventBusName", DefaultParent: "default", Max: 64, Pattern: `^[.\-_A-Za-z0-9]+$`,
		Doc: "EventBridge PutRule: rule names unique on their event bus; 1-64 of [.-_A-Za-z0-9]"},
	"AWS::SSM::Parameter": {Path: "Name", Scope: ScopeRegion, Max: 2048,
		Doc: "SSM PutParameter: unique per account and Region"},
	"AWS::KMS::Alias": {Path: "AliasName", Scope: ScopeRegion, Max: 256, Pattern: `^alias/[a-zA-Z0-9/_-]+$`,
		Doc: "KMS CreateAlias: unique in the account and Region"},
	"AWS::ApiGateway::RestApi": {Path: "Name", Scope: ScopeNone,
		Doc: "API Gateway: REST APIs are identified by id; names may repeat"},
	"AWS::ApiGateway::ApiKey": {Path: "Name", Scope: ScopeNone, Max: 1024,
		Doc: "API Gateway: API keys are identified by id; names may repeat"},
	"AWS::ApiGateway::UsagePlan": {Path: "UsagePlanName", Scope: ScopeNone,
		Doc: "API Gateway: usage plans are identified by id; names may repeat"},
	"AWS::ApiGateway::VpcLink": {Path: "Name", Scope: ScopeNone,
		Doc: "API Gateway: VPC links are identified by id; names may repeat"},
	"AWS::ApiGateway::Stage": {Path: "StageName", Scope: ScopeParent, Parent: "RestApiId", Max: 128, Pattern: `^[a-zA-Z0-9_-]+$`,
		Doc: "API Gateway CreateStage: stage names unique in their API; letters, digits, - and _, up to 128"},
	"AWS::ApiGateway::Model": {Path: "Name", Scope: ScopeParent, Parent: "RestApiId", Pattern: `^[a-zA-Z0-9]+$`,
		Doc: "API Gateway CreateModel: model names unique in their API, alphanumeric"},
	"AWS::ApiGateway::RequestValidator": {Path: "Name", Scope: ScopeNone,
		Doc: "API Gateway CreateRequestValidator: validators are identified by id; names may repeat"},
	// An OIDC provider is named by its issuer URL, once per account (all regions).
	"AWS::IAM::OIDCProvider": {Path: "Url", Scope: ScopeAccount,
		Doc: "IAM CreateOpenIDConnectProvider: an account has one provider per issuer URL, in all regions together (EntityAlreadyExists)"},
	// lambda/icebergtable creates a Glue table of this name in DatabaseName.
	"Custom::IcebergTable": {Path: "TableInput/Name", Scope: ScopeParent, Parent: "DatabaseName", Max: 255,
		Doc: "Glue CreateTable (through lambda/icebergtable): table names unique in their database, 1-255, stored in lower case"},
}

// notOwnNames are top-level properties ending in "Name" that are not the resource's own unique
// name (they name another resource, or are a label): every other such property must be its
// type's Path in physicalNames, so that no explicit name escapes the scope check.
var notOwnNames = map[string]string{
	"AWS::Glue::Table/DatabaseName":                     "its database",
	"AWS::Lambda::Permission/FunctionName":              "the function it lets in",
	"AWS::Logs::LogStream/LogGroupName":                 "its log group",
	"AWS::EC2::FlowLog/LogGroupName":                    "the log group it writes",
	"AWS::EC2::VPCEndpoint/ServiceName":                 "the AWS service it reaches",
	"Custom::IcebergTable/DatabaseName":                 "its database",
	"Custom::S3AutoDeleteObjects/BucketName":            "the bucket it empties",
	"Custom::CDKBucketDeployment/DestinationBucketName": "the bucket it writes",
	"AWS::SNS::Topic/DisplayName":                       "a label in notifications; need not be unique",
}

// createOnlyExempt are create-only properties of named resources whose change does not need a
// new name (or cannot get one), each with the reason; both replacement checks
// (TestRehearsalNamesFollowCreateOnly, TestRehearsalReplacement) read it. Keys are "<type>/<path>", or
// "<type>/*" for every property of the type.
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
	// A topic's name is the data contract (<userId>.pin|geo|user: the REST proxy's routes, the
	// sink's topics.regex, the S3 object keys), so it cannot follow the replication factor,
	// which MSK cannot change in place: changing topicReplicationFactor after the first deploy
	// fails the update on the name. The configuration cannot refuse that change at synth time,
	// since it cannot know the deployed value; README.md says the key is fixed after the first
	// deploy (Configuration, Names).
	"AWS::MSK::Topic/ReplicationFactor": "the topic name is the data contract and cannot follow it; " +
		"the configuration cannot know the deployed value, so README documents topicReplicationFactor as fixed after the first deploy",
}

// createOnlyExemption is the reason create-only property path (below Properties) of typ needs no
// new name, or "".
func createOnlyExemption(typ, path string) string {
	if why := createOnlyExempt[typ+"/*"]; why != "" {
		return why
	}
	return createOnlyExempt[typ+"/"+path]
}

// nameOf is the explicit name of resource id of ds with its table entry, or ok=false.
func nameOf(ds *depStack, id string) (name string, n physicalName, ok bool) {
	typ, _ := ds.res[id]["Type"].(string)
	n, known := physicalNames[typ]
	if !known {
		return "", n, false
	}
	name = ds.ExplicitName(id)
	return name, n, name != ""
}

// scopeKey is where a name must be unique, for collisions; "" for names that need not be.
func scopeKey(d *Deployment, ds *depStack, id string, typ string, n physicalName, name string) string {
	if n.CaseInsensitive {
		name = strings.ToLower(name)
	}
	switch n.Scope {
	case ScopePartition:
		return strings.Join([]string{d.Partition, typ, name}, "|")
	case ScopeAccount:
		return strings.Join([]string{d.Partition, d.Account, typ, name}, "|")
	case ScopeRegion:
		return strings.Join([]string{d.Partition, d.Account, d.Region, typ, name}, "|")
	case ScopeParent:
		parent := scalarString(ds.PropsMap(id)[n.Parent])
		if parent == "" {
			parent = n.DefaultParent
		}
		return strings.Join([]string{d.Partition, d.Account, d.Region, typ, parent, name}, "|")
	}
	return ""
}

// nameFindings checks the explicit names of deployments that exist side by side (two users, two
// regions, two accounts): no two resources share a name in its scope, and each name keeps
// within its service's length and pattern. check names the finding's check.
func nameFindings(deps []*Deployment, stats *nameStats) []Finding {
	var out []Finding
	type owner struct {
		d              *Deployment
		stack, id, typ string
	}
	seen := map[string]owner{}
	// Stack names are unique per account and region too: stacks shared by several deployments
	// (Pinpipe-Account, Pinpipe-GitHubOidc: no userId in the name) are one stack, which each
	// deploy overwrites, so their templates must be the same.
	stackSeen := map[string]*Deployment{}
	for _, d := range deps {
		for _, sn := range d.StackNames() {
			ds := d.Stack(sn)
			stackKey := strings.Join([]string{d.Partition, d.Account, d.Region, sn}, "|")
			if prev, dup := stackSeen[stackKey]; dup {
				a, _ := json.Marshal(prev.Stack(sn).tmpl)
				b, _ := json.Marshal(ds.tmpl)
				if string(a) != string(b) {
					out = append(out, Finding{Check: "names", Where: d.Label, Stack: sn, LogicalID: "(stack)",
						Rule: fmt.Sprintf("stack %s is also deployed by %s to this account and region with another template: "+
							"stack names are unique per account and region, so each deploy would overwrite the other's (first difference %s)",
							sn, prev.Label, firstDiffPath(prev.Stack(sn).tmpl, ds.tmpl))})
				}
				continue // the same stack: its resources are the ones already seen
			}
			stackSeen[stackKey] = d
			for _, id := range sortedKeysRes(ds.Resources()) {
				typ, _ := ds.res[id]["Type"].(string)
				out = append(out, missingNameEntry(d, ds, id, typ)...)
				name, n, ok := nameOf(ds, id)
				if !ok {
					continue
				}
				stats.Names++
				f := Finding{Check: "names", Where: d.Label, Stack: sn, LogicalID: id, Type: typ, Path: "Properties/" + n.Path}
				if strings.Contains(name, "{{resolve:") {
					continue
				}
				if n.Max > 0 && len(name) > n.Max {
					f.Rule = fmt.Sprintf("name %q is %d characters; the service allows %d (%s)", name, len(name), n.Max, n.Doc)
					out = append(out, f)
				}
				if n.Pattern != "" && !regexp.MustCompile(n.Pattern).MatchString(name) {
					f.Rule = fmt.Sprintf("name %q does not match %s (%s)", name, n.Pattern, n.Doc)
					out = append(out, f)
				}
				key := scopeKey(d, ds, id, typ, n, name)
				if key == "" {
					continue
				}
				stats.Scoped++
				if prev, dup := seen[key]; dup {
					f.Rule = fmt.Sprintf("name %q is also used by %s/%s in %s: names of %s are unique per %s (%s)",
						name, prev.stack, prev.id, prev.d.Label, typ, n.Scope, n.Doc)
					out = append(out, f)
					continue
				}
				seen[key] = owner{d, sn, id, typ}
			}
		}
	}
	return out
}

// missingNameEntry: every explicit name must be in the names table, so that none escapes the
// scope check. A resource that sets its registry primary identifier (its name), or a top-level
// property ending in "Name" that notOwnNames does not explain, is an explicit name its type's
// entry must describe.
func missingNameEntry(d *Deployment, ds *depStack, id, typ string) []Finding {
	n, known := physicalNames[typ]
	props := ds.PropsMap(id)
	var out []Finding
	for p := range props {
		if strings.HasSuffix(p, "Name") && notOwnNames[typ+"/"+p] == "" && (!known || strings.SplitN(n.Path, "/", 2)[0] != p) {
			out = append(out, Finding{Check: "names", Where: d.Label, Stack: ds.name, LogicalID: id, Type: typ, Path: "Properties/" + p,
				Rule: "a property ending in Name that the names table (physicalNames) does not describe and notOwnNames does not explain: add its scope"})
		}
	}
	if known || d.rules == nil {
		return out
	}
	s, _ := d.rules.Schema(typ)
	if s == nil || len(s.PrimaryIdentifier) != 1 {
		return out
	}
	p := strings.TrimPrefix(s.PrimaryIdentifier[0], "/properties/")
	for _, ro := range s.ReadOnlyProperties {
		if ro == s.PrimaryIdentifier[0] {
			return out
		}
	}
	if _, set := props[p]; !set || strings.HasSuffix(p, "Name") {
		return out // unset, or reported above
	}
	return append(out, Finding{Check: "names", Where: d.Label, Stack: ds.name, LogicalID: id, Type: typ, Path: "Properties/" + p,
		Rule: "sets its primary identifier (an explicit name), but " + typ + " is not in the names table (rehearsal_names_test.go): add its scope"})
}

type nameStats struct {
	Names, Scoped, Pairs, Compared int
	// Exempt are create-only changes let through by createOnlyExempt, with the reason.
	Exempt []string
}

// replacementFindings compares the same resources in deployments a and b of two
// configurations: when a property whose change replaces the resource differs, its explicit name
// (in the same scope) must differ too, or CloudFormation, which creates the replacement before
// deleting the old one, fails on the name.
func replacementFindings(rules *cfnRules, a, b *Deployment, change string, stats *nameStats) []Finding {
	var out []Finding
	for _, sn := range a.StackNames() {
		sa, sb := a.Stack(sn), b.Stack(sn)
		if sb == nil {
			continue
		}
		for _, id := range sortedKeysRes(sa.Resources()) {
			ra, rb := sa.res[id], sb.res[id]
			if rb == nil || ra["Type"] != rb["Type"] {
				continue
			}
			typ, _ := ra["Type"].(string)
			nameA, n, okA := nameOf(sa, id)
			nameB, _, okB := nameOf(sb, id)
			if !okA || !okB {
				continue
			}
			stats.Compared++
			props, _, _ := rules.CreateOnlyPaths(typ)
			pa, pb := sa.PropsMap(id), sb.PropsMap(id)
			for _, p := range props {
				if why := createOnlyExemption(typ, p); why != "" {
					if !reflect.DeepEqual(lookupPath(pa, p), lookupPath(pb, p)) {
						stats.Exempt = append(stats.Exempt, fmt.Sprintf("%s %s changes (%s): exempt, %s", typ, p, change, why))
					}
					continue
				}
				xa, xb := lookupPath(pa, p), lookupPath(pb, p)
				va, _ := json.Marshal(xa)
				vb, _ := json.Marshal(xb)
				if string(va) == string(vb) {
					continue
				}
				at, da, db := firstDifference(xa, xb, p)
				if scopeKey(a, sa, id, typ, n, nameA) != scopeKey(b, sb, id, typ, n, nameB) {
					break // renamed (or moved to another parent): the replacement can coexist
				}
				out = append(out, Finding{Check: "replacement", Where: change, Stack: sn, LogicalID: id, Type: typ, Path: "Properties/" + p,
					Rule: fmt.Sprintf("%s changes (%s: %s → %s), which replaces the resource (create-only), but its name %q stays: "+
						"the update fails on the name; the name must change with every create-only property", p, at, brief(da), brief(db), nameA)})
				break
			}
		}
	}
	return out
}

// firstDiffPath is the path of the first leaf where templates a and b differ.
func firstDiffPath(a, b map[string]interface{}) string {
	p, _, _ := firstDifference(a, b, "")
	return p
}

// firstDifference is the first leaf where a and b differ, with its two values.
func firstDifference(a, b interface{}, path string) (string, interface{}, interface{}) {
	ma, okA := a.(map[string]interface{})
	mb, okB := b.(map[string]interface{})
	if okA && okB {
		keys := map[string]interface{}{}
		for k := range ma {
			keys[k] = true
		}
		for k := range mb {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			x, _ := json.Marshal(ma[k])
			y, _ := json.Marshal(mb[k])
			if string(x) != string(y) {
				return firstDifference(ma[k], mb[k], path+"/"+k)
			}
		}
	}
	la, okA := a.([]interface{})
	lb, okB := b.([]interface{})
	if okA && okB && len(la) == len(lb) {
		for i := range la {
			x, _ := json.Marshal(la[i])
			y, _ := json.Marshal(lb[i])
			if string(x) != string(y) {
				return firstDifference(la[i], lb[i], fmt.Sprintf("%s/%d", path, i))
			}
		}
	}
	return path, a, b
}
