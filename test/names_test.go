package test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/stacks"
)

// Names that follow create-only properties (issue 9, finding 5) and the account's prerequisites
// (finding 1). Which names are explicit, and the scope each service keeps them unique in, is
// the rehearsal's names table (rehearsal_names_test.go, physicalNames); TestRehearsalNames
// checks them for collisions across users, regions and accounts (finding 2).

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

// Every resource with an explicit name and create-only properties gets a new name whenever one
// of them changes, so that CloudFormation's create-before-delete replacement does not fail on
// the name (issue 9, finding 5: the MSK Connect connector kept its name when its bootstrap
// servers, subnets or role changed). Which properties are create-only comes from AWS's data
// (cfnRules.CreateOnlyPaths: the registry schemas and the service spec database); a name that
// follows them is a Custom::PhysicalName whose Inputs hold, at the same paths, exactly the
// values the resource declares. TestRehearsalReplacement checks the same rule by deploying
// configuration changes side by side.
func TestRehearsalNamesFollowCreateOnly(t *testing.T) {
	rules := loadRules(t)
	checked := 0
	for _, ctx := range []map[string]interface{}{nil, variantContext()} {
		s := Synth(t, ctx)
		for stack, tmpl := range s.Templates(t) {
			res, _ := tmpl["Resources"].(map[string]interface{})
			for id, r := range res {
				rm := r.(map[string]interface{})
				typ := rm["Type"].(string)
				props := Props(rm)
				n, named := physicalNames[typ]
				if !named || n.Scope == ScopeNone {
					continue
				}
				nameValue := pointer(props, "/"+n.Path)
				if nameValue == nil {
					continue
				}
				createOnly, known, err := rules.CreateOnlyPaths(typ)
				require.NoError(t, err)
				if !known {
					continue // a custom resource: its handler decides
				}
				var inputs map[string]interface{}
				nameExpr, _ := nameValue.(map[string]interface{})
				if g, ok := nameExpr["Fn::GetAtt"].([]interface{}); ok {
					if pn, _ := res[g[0].(string)].(map[string]interface{}); pn["Type"] == "Custom::PhysicalName" {
						inputs, _ = Props(pn)["Inputs"].(map[string]interface{})
					}
				}
				for _, p := range createOnly {
					path := "/" + p
					if p == n.Path || createOnlyExemption(typ, p) != "" {
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
					for q := path; q != "" && !found; q = q[:strings.LastIndex(q, "/")] {
						if v, ok := inputs[q]; ok {
							got = pointer(lowerKeys(map[string]interface{}{"v": v}).(map[string]interface{}),
								"/v"+lowerPath(strings.TrimPrefix(path, q)))
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
	// The connector alone has ten create-only properties declared.
	assert.Greater(t, checked, 10)
	t.Logf("rehearsal names follow create-only: %d create-only properties of named resources checked against the inputs of their names", checked)
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
