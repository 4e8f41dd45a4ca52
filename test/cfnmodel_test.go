package test

// A model of what CloudFormation does with the synthesized templates when it deploys them into
// one (account, region): every intrinsic function resolved to a concrete value, so that the
// rehearsal's checks see real names and ARNs, as the services will.
//
// Values CloudFormation takes from the template and the pseudo parameters are exact. Values that
// only exist once something is deployed (generated names and ids, attributes, SSM parameters,
// dynamic references) are fakes with the real shape, derived deterministically from what
// determines them: a resource's generated id hashes its account, region, stack, logical id and
// create-only properties (so a replacement gets a new id, an update keeps it), and an attribute
// hashes the resource's identity (a custom resource's: all its properties). Such values are
// "tainted": the schema check validates only their type.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// noValue is AWS::NoValue: the property or list element disappears.
var noValue = &struct{ noValue bool }{true}

// rv is a resolved value: v is concrete JSON (string, float64, bool, []interface{},
// map[string]interface{}, nil) or noValue; tainted marks values that depend on a fake.
type rv struct {
	v       interface{}
	tainted bool
}

// Deployment is the app's stacks deployed into one account and region.
type Deployment struct {
	Account, Region, Partition string
	// Label names the deployment in messages: userId@account/region.
	Label  string
	rules  *cfnRules
	stacks map[string]*depStack
	names  []string
	// exports: export name → the stack and output that define it.
	exports map[string][2]string
	// Errors are references CloudFormation would reject (unknown logical ids, exports no stack
	// defines, ...), found while resolving.
	Errors []string
}

type depStack struct {
	d      *Deployment
	name   string
	tmpl   map[string]interface{}
	res    map[string]map[string]interface{}
	params map[string]interface{}
	conds  map[string]interface{}
	props  map[string]rv // resolved Properties, by logical id
	busy   map[string]bool
}

// Deploy models the deployment of synthesis s into account and region.
func Deploy(t testing.TB, rules *cfnRules, s *Synthesis, account, region string) *Deployment {
	t.Helper()
	return deployTemplates(rules, s.StackTemplates(t), s.Config.UserID, account, region)
}

func deployTemplates(rules *cfnRules, tmpls []StackTemplate, user, account, region string) *Deployment {
	partition := "aws"
	if strings.HasPrefix(region, "cn-") {
		partition = "aws-cn"
	} else if strings.HasPrefix(region, "us-gov-") {
		partition = "aws-us-gov"
	}
	d := &Deployment{Account: account, Region: region, Partition: partition, rules: rules,
		Label: user + "@" + account + "/" + region, stacks: map[string]*depStack{}, exports: map[string][2]string{}}
	for _, st := range tmpls {
		ds := &depStack{d: d, name: st.Name, tmpl: st.Template, res: map[string]map[string]interface{}{},
			props: map[string]rv{}, busy: map[string]bool{}}
		for id, r := range asMap(st.Template["Resources"]) {
			ds.res[id] = asMap(r)
		}
		ds.params = asMap(st.Template["Parameters"])
		ds.conds = asMap(st.Template["Conditions"])
		d.stacks[st.Name] = ds
		d.names = append(d.names, st.Name)
	}
	sort.Strings(d.names)
	for _, name := range d.names {
		ds := d.stacks[name]
		for out, o := range asMap(ds.tmpl["Outputs"]) {
			exp, ok := asMap(o)["Export"]
			if !ok {
				continue
			}
			n := ds.resolve(asMap(exp)["Name"], "Outputs/"+out+"/Export/Name")
			if s, ok := n.v.(string); ok {
				d.exports[s] = [2]string{name, out}
			}
		}
	}
	return d
}

func asMap(v interface{}) map[string]interface{} {
	m, _ := v.(map[string]interface{})
	return m
}

// StackNames are the deployed stacks, sorted.
func (d *Deployment) StackNames() []string { return d.names }

// Stack is the template of a deployed stack.
func (d *Deployment) Stack(name string) *depStack { return d.stacks[name] }

// Resources of stack name, by logical id (the template's).
func (ds *depStack) Resources() map[string]map[string]interface{} { return ds.res }

// Name is the stack name.
func (ds *depStack) Name() string { return ds.name }

func (d *Deployment) errorf(format string, a ...interface{}) {
	msg := fmt.Sprintf(format, a...)
	for _, e := range d.Errors {
		if e == msg {
			return
		}
	}
	d.Errors = append(d.Errors, msg)
}

// Props is the resolved Properties object of resource id.
func (ds *depStack) Props(id string) rv {
	if p, ok := ds.props[id]; ok {
		return p
	}
	r, ok := ds.res[id]
	if !ok {
		ds.d.errorf("%s: no resource %s", ds.name, id)
		return rv{v: map[string]interface{}{}, tainted: true}
	}
	if ds.busy[id] {
		ds.d.errorf("%s/%s: circular reference", ds.name, id)
		return rv{v: map[string]interface{}{}, tainted: true}
	}
	ds.busy[id] = true
	defer delete(ds.busy, id)
	p := ds.resolve(r["Properties"], id+"/Properties")
	if p.v == nil || p.v == noValue {
		p.v = map[string]interface{}{}
	}
	ds.props[id] = p
	return p
}

// PropsMap is Props(id) as a map.
func (ds *depStack) PropsMap(id string) map[string]interface{} { return asMap(ds.Props(id).v) }

// IsIntrinsic tells whether m is an intrinsic function call ({"Ref": ...} or {"Fn::X": ...}).
func IsIntrinsic(v interface{}) (string, interface{}, bool) {
	m, ok := v.(map[string]interface{})
	if !ok || len(m) != 1 {
		return "", nil, false
	}
	for k, arg := range m {
		if k == "Ref" || strings.HasPrefix(k, "Fn::") || k == "Condition" {
			return k, arg, true
		}
	}
	return "", nil, false
}

// resolve evaluates v in this stack; at names where in the template it is, for messages.
func (ds *depStack) resolve(v interface{}, at string) rv {
	switch x := v.(type) {
	case string:
		return rv{v: x, tainted: strings.Contains(x, "{{resolve:")}
	case []interface{}:
		out := make([]interface{}, 0, len(x))
		tainted := false
		for i, e := range x {
			r := ds.resolve(e, fmt.Sprintf("%s/%d", at, i))
			tainted = tainted || r.tainted
			if r.v != noValue {
				out = append(out, r.v)
			}
		}
		return rv{v: out, tainted: tainted}
	case map[string]interface{}:
		if fn, arg, ok := IsIntrinsic(x); ok && fn != "Condition" {
			return ds.intrinsic(fn, arg, at)
		}
		out := make(map[string]interface{}, len(x))
		tainted := false
		for k, e := range x {
			r := ds.resolve(e, at+"/"+k)
			tainted = tainted || r.tainted
			if r.v != noValue {
				out[k] = r.v
			}
		}
		return rv{v: out, tainted: tainted}
	default:
		return rv{v: x}
	}
}

func (ds *depStack) intrinsic(fn string, arg interface{}, at string) rv {
	d := ds.d
	bad := func(format string, a ...interface{}) rv {
		d.errorf("%s/%s: %s", ds.name, at, fmt.Sprintf(format, a...))
		return rv{v: "", tainted: true}
	}
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return ds.ref(name, at)
	case "Fn::GetAtt":
		var id, attr string
		switch a := arg.(type) {
		case []interface{}:
			if len(a) != 2 {
				return bad("Fn::GetAtt wants [logicalId, attribute]")
			}
			id, _ = a[0].(string)
			r := ds.resolve(a[1], at)
			attr, _ = r.v.(string)
		case string:
			id, attr, _ = strings.Cut(a, ".")
		}
		return ds.getAtt(id, attr, at)
	case "Fn::Join":
		a, _ := arg.([]interface{})
		if len(a) != 2 {
			return bad("Fn::Join wants [delimiter, list]")
		}
		sep, _ := a[0].(string)
		list := ds.resolve(a[1], at)
		items, ok := list.v.([]interface{})
		if !ok {
			return bad("Fn::Join of a non-list %v", list.v)
		}
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = scalarString(it)
		}
		return rv{v: strings.Join(parts, sep), tainted: list.tainted}
	case "Fn::Sub":
		var tmpl string
		vars := map[string]rv{}
		switch a := arg.(type) {
		case string:
			tmpl = a
		case []interface{}:
			if len(a) != 2 {
				return bad("Fn::Sub wants a string or [string, variables]")
			}
			tmpl, _ = a[0].(string)
			for k, v := range asMap(a[1]) {
				vars[k] = ds.resolve(v, at+"/"+k)
			}
		}
		return ds.sub(tmpl, vars, at)
	case "Fn::Select":
		a, _ := arg.([]interface{})
		if len(a) != 2 {
			return bad("Fn::Select wants [index, list]")
		}
		idx := ds.resolve(a[0], at)
		list := ds.resolve(a[1], at)
		items, _ := list.v.([]interface{})
		i, ok := toInt(idx.v)
		if !ok || i < 0 || i >= len(items) {
			return bad("Fn::Select index %v out of a list of %d", idx.v, len(items))
		}
		return rv{v: items[i], tainted: list.tainted || idx.tainted}
	case "Fn::Split":
		a, _ := arg.([]interface{})
		if len(a) != 2 {
			return bad("Fn::Split wants [delimiter, string]")
		}
		sep, _ := a[0].(string)
		s := ds.resolve(a[1], at)
		str, _ := s.v.(string)
		var out []interface{}
		for _, p := range strings.Split(str, sep) {
			out = append(out, p)
		}
		return rv{v: out, tainted: s.tainted}
	case "Fn::ImportValue":
		n := ds.resolve(arg, at)
		name, _ := n.v.(string)
		loc, ok := d.exports[name]
		if !ok {
			return bad("Fn::ImportValue %q: no stack of this app exports it", name)
		}
		src := d.stacks[loc[0]]
		out := asMap(asMap(src.tmpl["Outputs"])[loc[1]])
		r := src.resolve(out["Value"], "Outputs/"+loc[1]+"/Value")
		return r
	case "Fn::If":
		a, _ := arg.([]interface{})
		if len(a) != 3 {
			return bad("Fn::If wants [condition, then, else]")
		}
		c, _ := a[0].(string)
		if ds.condition(c, at) {
			return ds.resolve(a[1], at)
		}
		return ds.resolve(a[2], at)
	case "Fn::GetAZs":
		return rv{v: []interface{}{d.Region + "a", d.Region + "b", d.Region + "c"}}
	case "Fn::Base64":
		s := ds.resolve(arg, at)
		return rv{v: base64.StdEncoding.EncodeToString([]byte(scalarString(s.v))), tainted: s.tainted}
	case "Fn::FindInMap":
		a, _ := arg.([]interface{})
		if len(a) < 3 {
			return bad("Fn::FindInMap wants [map, key, key]")
		}
		m := asMap(asMap(ds.tmpl["Mappings"])[scalarString(ds.resolve(a[0], at).v)])
		k1 := ds.resolve(a[1], at)
		k2 := ds.resolve(a[2], at)
		v, ok := asMap(m[scalarString(k1.v)])[scalarString(k2.v)]
		if !ok {
			return bad("Fn::FindInMap %v: no such entry", a)
		}
		return rv{v: v, tainted: k1.tainted || k2.tainted}
	case "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not":
		return rv{v: ds.evalCondition(map[string]interface{}{fn: arg}, at)}
	case "Fn::ToJsonString":
		r := ds.resolve(arg, at)
		b, _ := json.Marshal(r.v)
		return rv{v: string(b), tainted: r.tainted}
	case "Fn::Length":
		r := ds.resolve(arg, at)
		l, _ := r.v.([]interface{})
		return rv{v: float64(len(l)), tainted: r.tainted}
	}
	return bad("unsupported intrinsic %s", fn)
}

// sub expands ${Name}, ${Logical.Attr} and ${!Literal} in tmpl.
func (ds *depStack) sub(tmpl string, vars map[string]rv, at string) rv {
	var b strings.Builder
	tainted := false
	for {
		i := strings.Index(tmpl, "${")
		if i < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		j := strings.Index(tmpl[i:], "}")
		if j < 0 {
			b.WriteString(tmpl[i:])
			break
		}
		name := tmpl[i+2 : i+j]
		tmpl = tmpl[i+j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		var r rv
		if v, ok := vars[name]; ok {
			r = v
		} else if id, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			r = ds.getAtt(id, attr, at)
		} else {
			r = ds.ref(name, at)
		}
		tainted = tainted || r.tainted
		b.WriteString(scalarString(r.v))
	}
	return rv{v: b.String(), tainted: tainted}
}

func (ds *depStack) condition(name, at string) bool {
	c, ok := ds.conds[name]
	if !ok {
		ds.d.errorf("%s/%s: no condition %s", ds.name, at, name)
		return false
	}
	return ds.evalCondition(c, at)
}

func (ds *depStack) evalCondition(c interface{}, at string) bool {
	fn, arg, ok := IsIntrinsic(c)
	if !ok {
		b, _ := c.(bool)
		return b
	}
	args, _ := arg.([]interface{})
	switch fn {
	case "Condition":
		n, _ := arg.(string)
		return ds.condition(n, at)
	case "Fn::Equals":
		if len(args) != 2 {
			return false
		}
		a, b := ds.resolve(args[0], at), ds.resolve(args[1], at)
		return scalarString(a.v) == scalarString(b.v)
	case "Fn::Not":
		return len(args) == 1 && !ds.evalCondition(args[0], at)
	case "Fn::And":
		for _, a := range args {
			if !ds.evalCondition(a, at) {
				return false
			}
		}
		return true
	case "Fn::Or":
		for _, a := range args {
			if ds.evalCondition(a, at) {
				return true
			}
		}
		return false
	}
	ds.d.errorf("%s/%s: %s is not a condition function", ds.name, at, fn)
	return false
}

// ref is Ref name: a pseudo parameter, a parameter, or a resource.
func (ds *depStack) ref(name, at string) rv {
	d := ds.d
	switch name {
	case "AWS::AccountId":
		return rv{v: d.Account}
	case "AWS::Region":
		return rv{v: d.Region}
	case "AWS::Partition":
		return rv{v: d.Partition}
	case "AWS::URLSuffix":
		if d.Partition == "aws-cn" {
			return rv{v: "amazonaws.com.cn"}
		}
		return rv{v: "amazonaws.com"}
	case "AWS::StackName":
		return rv{v: ds.name}
	case "AWS::StackId":
		return rv{v: fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/%s", d.Partition, d.Region, d.Account, ds.name, fakeUUID(d.Account, d.Region, ds.name))}
	case "AWS::NoValue":
		return rv{v: noValue}
	case "AWS::NotificationARNs":
		return rv{v: []interface{}{}}
	}
	if p, ok := ds.params[name]; ok {
		pm := asMap(p)
		typ, _ := pm["Type"].(string)
		def := pm["Default"]
		switch {
		case strings.HasPrefix(typ, "AWS::SSM::Parameter::Value<"):
			// The value lives in SSM Parameter Store; its shape follows the type.
			h := fakeHash(d.Account, d.Region, scalarString(def))
			switch {
			case strings.Contains(typ, "AWS::EC2::Image::Id"):
				return rv{v: "ami-" + h[:17], tainted: true}
			case strings.Contains(typ, "List<"):
				return rv{v: []interface{}{"ssm-" + h[:12]}, tainted: true}
			}
			return rv{v: "ssm-" + h[:12], tainted: true}
		case strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList":
			s := scalarString(def)
			var out []interface{}
			for _, x := range strings.Split(s, ",") {
				out = append(out, x)
			}
			return rv{v: out}
		}
		if def == nil {
			d.errorf("%s/%s: parameter %s has no default and the app passes none", ds.name, at, name)
			return rv{v: "", tainted: true}
		}
		return rv{v: def}
	}
	if _, ok := ds.res[name]; ok {
		return ds.physical(name)
	}
	d.errorf("%s/%s: Ref %s: no parameter or resource of that name", ds.name, at, name)
	return rv{v: "", tainted: true}
}

// getAtt is Fn::GetAtt id.attr.
func (ds *depStack) getAtt(id, attr, at string) rv {
	r, ok := ds.res[id]
	if !ok {
		ds.d.errorf("%s/%s: Fn::GetAtt %s.%s: no resource %s", ds.name, at, id, attr, id)
		return rv{v: "", tainted: true}
	}
	typ, _ := r["Type"].(string)
	if isCustom(typ) {
		// A custom resource returns what its handler computes from its properties.
		p := ds.Props(id)
		b, _ := json.Marshal(p.v)
		return rv{v: "fake-" + strings.ToLower(attr) + "-" + fakeHash(string(b), attr)[:16], tainted: true}
	}
	if sp := ds.d.rules.Spec(typ); sp != nil && !sp.Attributes[attr] {
		ds.d.errorf("%s/%s: Fn::GetAtt %s.%s: %s has no attribute %s (service spec)", ds.name, at, id, attr, typ, attr)
	}
	return ds.attribute(id, typ, attr)
}

func isCustom(typ string) bool {
	return strings.HasPrefix(typ, "Custom::") || typ == "AWS::CloudFormation::CustomResource"
}

// identity is the fake identity of resource id: its generated name, id and UUID derive from it.
// It hashes the account, region, stack and logical id, and the resource's replacing properties,
// so that a change of one of those (a replacement) gives a new identity.
func (ds *depStack) identity(id string) string {
	d := ds.d
	typ, _ := ds.res[id]["Type"].(string)
	parts := []string{d.Account, d.Region, ds.name, id}
	props := ds.PropsMap(id)
	var keys []string
	if isCustom(typ) {
		// Custom resources are replaced only when their handler says so; the ServiceToken
		// (which function) decides it.
		keys = []string{"ServiceToken"}
	} else if d.rules != nil {
		keys, _, _ = d.rules.CreateOnlyPaths(typ)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := lookupPath(props, k)
		if strings.Contains(k, "*") { // a path through list elements: the whole top property
			top, _, _ := strings.Cut(k, "/")
			v = props[top]
		}
		b, _ := json.Marshal(v)
		parts = append(parts, k+"="+string(b))
	}
	return fakeHash(parts...)
}

// GeneratedName is the name CloudFormation makes up for a resource that has none:
// <stack>-<logical id>-<random>.
func (ds *depStack) GeneratedName(id string) string {
	h := strings.ToUpper(ds.identity(id)[:12])
	lid := id
	if len(lid) > 30 {
		lid = lid[:30]
	}
	return ds.name + "-" + lid + "-" + h
}

// ExplicitName is the physical name the template gives resource id (per the names table), or "".
func (ds *depStack) ExplicitName(id string) string {
	typ, _ := ds.res[id]["Type"].(string)
	n, ok := physicalNames[typ]
	if !ok || n.Path == "" {
		return ""
	}
	v, _ := lookupPath(ds.PropsMap(id), n.Path).(string)
	return v
}

// name is the resource's explicit name, or the one CloudFormation generates.
func (ds *depStack) nameOf(id string) string {
	if n := ds.ExplicitName(id); n != "" {
		return n
	}
	return ds.GeneratedName(id)
}

func lookupPath(m map[string]interface{}, path string) interface{} {
	var cur interface{} = m
	for _, p := range strings.Split(path, "/") {
		cur = asMap(cur)[p]
	}
	return cur
}

// physical is Ref of resource id.
func (ds *depStack) physical(id string) rv {
	d := ds.d
	typ, _ := ds.res[id]["Type"].(string)
	props := ds.PropsMap(id)
	h := ds.identity(id)
	str := func(k string) string { s, _ := props[k].(string); return s }
	switch typ {
	case "AWS::SNS::Topic", "AWS::MSK::Cluster", "AWS::KafkaConnect::Connector", "AWS::KafkaConnect::CustomPlugin",
		"AWS::ECS::TaskDefinition", "AWS::SecretsManager::Secret", "AWS::IAM::ManagedPolicy", "AWS::Lambda::LayerVersion",
		"AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::Listener",
		"AWS::MSK::Topic", "AWS::Lambda::Permission", "AWS::StepFunctions::StateMachine":
		return ds.attribute(id, typ, "Arn")
	case "AWS::SQS::Queue":
		return rv{v: fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", d.Region, d.Account, ds.nameOf(id)), tainted: str("QueueName") == ""}
	case "AWS::Glue::Database":
		return rv{v: lookupPath(props, "DatabaseInput/Name"), tainted: ds.Props(id).tainted}
	case "AWS::Glue::Table":
		return rv{v: lookupPath(props, "TableInput/Name"), tainted: ds.Props(id).tainted}
	case "AWS::ApiGateway::Stage":
		return rv{v: str("StageName"), tainted: ds.Props(id).tainted}
	case "AWS::Events::Rule", "AWS::Scheduler::Schedule", "AWS::Athena::WorkGroup", "AWS::MWAA::Environment",
		"AWS::CloudWatch::Dashboard", "AWS::CloudWatch::Alarm", "AWS::Logs::LogStream":
		return rv{v: ds.nameOf(id), tainted: ds.ExplicitName(id) == ""}
	}
	if isCustom(typ) {
		return rv{v: "custom-" + h[:16], tainted: true}
	}
	if n, ok := physicalNames[typ]; ok && n.Path != "" && n.Ref {
		if e := ds.ExplicitName(id); e != "" {
			return rv{v: e, tainted: ds.Props(id).tainted}
		}
		return rv{v: ds.GeneratedName(id), tainted: true}
	}
	return rv{v: idPrefix(typ) + h[:17], tainted: true}
}

// idPrefix is the prefix of a generated id of typ: vpc-, subnet-, sg-, ...
func idPrefix(typ string) string {
	if p, ok := map[string]string{
		"AWS::EC2::VPC": "vpc-", "AWS::EC2::Subnet": "subnet-", "AWS::EC2::SecurityGroup": "sg-", "AWS::EC2::Instance": "i-",
		"AWS::EC2::LaunchTemplate": "lt-", "AWS::EC2::InternetGateway": "igw-", "AWS::EC2::NatGateway": "nat-",
		"AWS::EC2::RouteTable": "rtb-", "AWS::EC2::VPCEndpoint": "vpce-", "AWS::EC2::EIP": "eipalloc-", "AWS::EC2::FlowLog": "fl-",
		"AWS::KMS::Key": "", "AWS::ApiGateway::RestApi": "", "AWS::ApiGateway::ApiKey": "", "AWS::ApiGateway::UsagePlan": "",
		"AWS::ApiGateway::VpcLink": "", "AWS::ApiGateway::Deployment": "", "AWS::ApiGateway::Resource": "",
	}[typ]; ok {
		return p
	}
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(typ, "AWS::"), "::", "-")) + "-"
}

// attribute is Fn::GetAtt of a (non-custom) resource.
func (ds *depStack) attribute(id, typ, attr string) rv {
	d := ds.d
	props := ds.PropsMap(id)
	tainted := ds.Props(id).tainted || ds.ExplicitName(id) == ""
	h := ds.identity(id)
	str := func(k string) string { s, _ := props[k].(string); return s }
	p, r, a := d.Partition, d.Region, d.Account
	arn := func(format string, args ...interface{}) rv {
		return rv{v: fmt.Sprintf("arn:%s:", p) + fmt.Sprintf(format, args...), tainted: tainted}
	}
	switch typ + "." + attr {
	case "AWS::MSK::Cluster.Arn":
		return arn("kafka:%s:%s:cluster/%s/%s", r, a, ds.nameOf(id), fakeUUID(h)+"-2")
	case "AWS::MSK::Topic.Arn", "AWS::MSK::Topic.TopicArn":
		cluster, _ := props["ClusterArn"].(string)
		return rv{v: strings.Replace(cluster, ":cluster/", ":topic/", 1) + "/" + str("TopicName"), tainted: ds.Props(id).tainted}
	case "AWS::KafkaConnect::Connector.Arn", "AWS::KafkaConnect::Connector.ConnectorArn":
		return arn("kafkaconnect:%s:%s:connector/%s/%s", r, a, ds.nameOf(id), fakeUUID(h)+"-3")
	case "AWS::KafkaConnect::CustomPlugin.Arn", "AWS::KafkaConnect::CustomPlugin.CustomPluginArn":
		return arn("kafkaconnect:%s:%s:custom-plugin/%s/%s", r, a, ds.nameOf(id), fakeUUID(h)+"-4")
	case "AWS::KafkaConnect::CustomPlugin.Revision":
		return rv{v: float64(1), tainted: true}
	case "AWS::Logs::LogGroup.Arn":
		return arn("logs:%s:%s:log-group:%s:*", r, a, ds.nameOf(id))
	case "AWS::ECS::TaskDefinition.Arn", "AWS::ECS::TaskDefinition.TaskDefinitionArn":
		return rv{v: fmt.Sprintf("arn:%s:ecs:%s:%s:task-definition/%s:1", p, r, a, ds.nameOf(id)), tainted: true}
	case "AWS::SecretsManager::Secret.Arn", "AWS::SecretsManager::Secret.Id":
		return rv{v: fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-%s", p, r, a, ds.nameOf(id), h[:6]), tainted: true}
	case "AWS::IAM::ManagedPolicy.Arn", "AWS::IAM::ManagedPolicy.PolicyArn":
		return arn("iam::%s:policy%s%s", a, pathOr(str("Path")), ds.nameOf(id))
	case "AWS::IAM::Role.Arn":
		return arn("iam::%s:role%s%s", a, pathOr(str("Path")), ds.nameOf(id))
	case "AWS::IAM::InstanceProfile.Arn":
		return arn("iam::%s:instance-profile%s%s", a, pathOr(str("Path")), ds.nameOf(id))
	case "AWS::IAM::Role.RoleId":
		return rv{v: "AROA" + strings.ToUpper(h[:17]), tainted: true}
	case "AWS::Lambda::LayerVersion.Arn", "AWS::Lambda::LayerVersion.LayerVersionArn":
		return arn("lambda:%s:%s:layer:%s:1", r, a, ds.nameOf(id))
	case "AWS::Lambda::Permission.Arn":
		return rv{v: "perm-" + h[:12], tainted: true}
	case "AWS::ElasticLoadBalancingV2::LoadBalancer.Arn", "AWS::ElasticLoadBalancingV2::LoadBalancer.LoadBalancerArn":
		return rv{v: fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:loadbalancer/net/%s/%s", p, r, a, trunc(ds.nameOf(id), 32), h[:16]), tainted: true}
	case "AWS::ElasticLoadBalancingV2::TargetGroup.Arn", "AWS::ElasticLoadBalancingV2::TargetGroup.TargetGroupArn":
		return rv{v: fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:targetgroup/%s/%s", p, r, a, trunc(ds.nameOf(id), 32), h[:16]), tainted: true}
	case "AWS::ElasticLoadBalancingV2::Listener.Arn", "AWS::ElasticLoadBalancingV2::Listener.ListenerArn":
		return rv{v: fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:listener/net/x/%s/%s", p, r, a, h[:16], h[16:32]), tainted: true}
	case "AWS::SNS::Topic.TopicArn", "AWS::SNS::Topic.Arn":
		return arn("sns:%s:%s:%s", r, a, ds.nameOf(id))
	case "AWS::SNS::Topic.TopicName":
		return rv{v: ds.nameOf(id), tainted: tainted}
	case "AWS::SQS::Queue.Arn":
		return arn("sqs:%s:%s:%s", r, a, ds.nameOf(id))
	case "AWS::S3::Bucket.DomainName":
		return rv{v: ds.nameOf(id) + ".s3.amazonaws.com", tainted: tainted}
	case "AWS::S3::Bucket.RegionalDomainName":
		return rv{v: ds.nameOf(id) + ".s3." + r + ".amazonaws.com", tainted: tainted}
	case "AWS::KMS::Key.KeyId":
		return rv{v: fakeUUID(h), tainted: true}
	case "AWS::KMS::Key.Arn":
		return rv{v: fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", p, r, a, fakeUUID(h)), tainted: true}
	case "AWS::Scheduler::Schedule.Arn":
		group := str("GroupName")
		if group == "" {
			group = "default"
		}
		return arn("scheduler:%s:%s:schedule/%s/%s", r, a, group, ds.nameOf(id))
	case "AWS::Events::Rule.Arn":
		return arn("events:%s:%s:rule/%s", r, a, ds.nameOf(id))
	case "AWS::StepFunctions::StateMachine.Arn":
		// Ref is the ARN too (CloudFormation reference, AWS::StepFunctions::StateMachine).
		return arn("states:%s:%s:stateMachine:%s", r, a, ds.nameOf(id))
	case "AWS::IAM::OIDCProvider.Arn":
		// IAM names a provider by its issuer URL without the scheme.
		return rv{v: fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", p, a, strings.TrimPrefix(str("Url"), "https://")), tainted: ds.Props(id).tainted}
	case "AWS::EC2::SecurityGroup.GroupId":
		return ds.physical(id) // Ref of a VPC security group is its id too
	case "AWS::ApiGateway::RestApi.RootResourceId":
		return rv{v: h[:10], tainted: true}
	case "AWS::ApiGateway::RestApi.RestApiId":
		return rv{v: h[:10], tainted: true}
	}
	if attr == "Arn" || strings.HasSuffix(attr, "Arn") {
		if sp := d.rules.Spec(typ); sp != nil && sp.ArnTemplate != "" {
			return rv{v: ds.fillArn(id, sp.ArnTemplate), tainted: tainted}
		}
	}
	if v, ok := props[attr]; ok {
		return rv{v: v, tainted: ds.Props(id).tainted}
	}
	return rv{v: "fake-" + strings.ToLower(strings.ReplaceAll(attr, ".", "-")) + "-" + h[:16], tainted: true}
}

// fillArn fills an ARN template of the service spec: ${Partition}, ${Region}, ${Account}, and
// ${X} from the property X, the resource's name or its Ref.
func (ds *depStack) fillArn(id, tmpl string) string {
	d := ds.d
	props := ds.PropsMap(id)
	out := tmpl
	for {
		i := strings.Index(out, "${")
		if i < 0 {
			return out
		}
		j := strings.Index(out[i:], "}")
		if j < 0 {
			return out
		}
		v := out[i+2 : i+j]
		var val string
		switch v {
		case "Partition":
			val = d.Partition
		case "Region":
			val = d.Region
		case "Account":
			val = d.Account
		default:
			if s, ok := props[strings.TrimSuffix(v, "WithPath")].(string); ok {
				val = s
			} else if strings.HasSuffix(v, "Name") || strings.HasSuffix(v, "NameWithPath") {
				val = ds.nameOf(id)
			} else {
				val = scalarString(ds.physical(id).v)
			}
		}
		out = out[:i] + val + out[i+j+1:]
	}
}

func pathOr(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// scalarString renders a resolved scalar as CloudFormation does when it joins or substitutes it.
func scalarString(v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprint(x)
	case bool:
		return fmt.Sprint(x)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func toInt(v interface{}) (int, bool) {
	switch x := v.(type) {
	case float64:
		return int(x), x == float64(int(x))
	case string:
		var i int
		_, err := fmt.Sscan(x, &i)
		return i, err == nil
	}
	return 0, false
}

func fakeHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fakeUUID is a UUID-shaped digest of parts.
func fakeUUID(parts ...string) string {
	h := fakeHash(parts...)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
