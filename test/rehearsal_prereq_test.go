package test

// Account prerequisites: settings of the account (or region) that a resource needs and that no
// resource property carries. Each must be declared by some stack of the deployment, or be
// documented in the README's deploy section beside the context key that turns its declaration
// off (for a user whose account already has it).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// prerequisite is one row of the table "resource type + property → prerequisite".
type prerequisite struct {
	// Type and When select the resources that need it (When nil: every resource of Type;
	// Type "*": every stack).
	Type string
	When func(props map[string]interface{}) bool
	// Need says what the account must have, and Doc where AWS documents it.
	Need, Doc string
	// Declared tells whether the deployment declares it itself.
	Declared func(d *Deployment) bool
	// Readme matches the README's account of it, for when it is not declared.
	Readme *regexp.Regexp
}

// hasResource is a Declared that looks for a resource of typ whose properties satisfy ok.
func hasResource(typ string, ok func(map[string]interface{}) bool) func(*Deployment) bool {
	return func(d *Deployment) bool {
		for _, sn := range d.StackNames() {
			ds := d.Stack(sn)
			for id, r := range ds.Resources() {
				if r["Type"] == typ && (ok == nil || ok(ds.PropsMap(id))) {
					return true
				}
			}
		}
		return false
	}
}

var prerequisites = []prerequisite{
	{
		Type: "AWS::ApiGateway::Stage",
		When: func(p map[string]interface{}) bool {
			if _, ok := p["AccessLogSetting"]; ok {
				return true
			}
			ms, _ := p["MethodSettings"].([]interface{})
			for _, m := range ms {
				mm := asMap(m)
				if lvl, _ := mm["LoggingLevel"].(string); (lvl != "" && lvl != "OFF") || mm["DataTraceEnabled"] == true {
					return true
				}
			}
			return false
		},
		Need: "the API Gateway CloudWatch Logs role of the account and region (AWS::ApiGateway::Account CloudWatchRoleArn): without it the stage fails with \"CloudWatch Logs role ARN must be set in account settings to enable logging\"",
		Doc:  "API Gateway Developer Guide, Set up CloudWatch logging for REST APIs: permissions for CloudWatch logging (account-level setting, per Region)",
		Declared: hasResource("AWS::ApiGateway::Account", func(p map[string]interface{}) bool {
			_, ok := p["CloudWatchRoleArn"]
			return ok
		}),
		Readme: regexp.MustCompile(`(?is)API Gateway.{0,200}CloudWatch.{0,80}role|CloudWatch.{0,80}role.{0,200}API Gateway`),
	},
	{
		Type: "AWS::IAM::Role",
		When: func(p map[string]interface{}) bool {
			// A role GitHub Actions assumes with its OIDC token (its trust conditions on the token).
			b, _ := json.Marshal(p["AssumeRolePolicyDocument"])
			return strings.Contains(string(b), `"sts:AssumeRoleWithWebIdentity"`) && strings.Contains(string(b), `"token.actions.githubusercontent.com:sub"`)
		},
		Need: "the account's IAM OIDC provider for token.actions.githubusercontent.com, which the role trusts: an account has one per issuer, in all regions together",
		Doc:  "IAM User Guide, Create an OpenID Connect (OIDC) identity provider; GitHub Docs, Configuring OpenID Connect in Amazon Web Services",
		Declared: hasResource("AWS::IAM::OIDCProvider", func(p map[string]interface{}) bool {
			return p["Url"] == "https://token.actions.githubusercontent.com"
		}),
		Readme: regexp.MustCompile(`(?is)OIDC provider.{0,300}githubOidcProviderArn|githubOidcProviderArn.{0,300}OIDC provider`),
	},
	{
		Type:   "*",
		When:   nil,
		Need:   "the CDK bootstrap stack (CDKToolkit: asset bucket, image repository, deploy roles) in the account and region; every template checks its version (BootstrapVersion)",
		Doc:    "CDK Developer Guide, Bootstrapping: once per account and Region, cdk bootstrap",
		Readme: regexp.MustCompile(`cdk bootstrap`),
	},
}

// prereqFindings checks the table on deployment d of synthesis s.
func prereqFindings(d *Deployment, s *Synthesis, readme string, counts *int) []Finding {
	var out []Finding
	for _, pr := range prerequisites {
		var needers []Finding
		for _, sn := range d.StackNames() {
			ds := d.Stack(sn)
			if pr.Type == "*" {
				if _, ok := asMap(ds.tmpl["Parameters"])["BootstrapVersion"]; ok {
					needers = append(needers, Finding{Check: "prerequisites", Where: d.Label, Stack: sn, LogicalID: "Parameters/BootstrapVersion"})
				}
				continue
			}
			for _, id := range sortedKeysRes(ds.Resources()) {
				if ds.res[id]["Type"] != pr.Type || (pr.When != nil && !pr.When(ds.PropsMap(id))) {
					continue
				}
				needers = append(needers, Finding{Check: "prerequisites", Where: d.Label, Stack: sn, LogicalID: id, Type: pr.Type})
			}
		}
		*counts += len(needers)
		if len(needers) == 0 || (pr.Declared != nil && pr.Declared(d)) {
			continue
		}
		if documentedOptOut(pr, s, readme) {
			continue
		}
		f := needers[0]
		f.Rule = "needs " + pr.Need + " (" + pr.Doc + "); no stack declares it"
		if pr.Declared == nil {
			f.Rule = "needs " + pr.Need + " (" + pr.Doc + "); the README does not say so"
		} else if pr.Readme != nil {
			f.Rule += ", and the README does not document it beside a context key this configuration sets to turn it off"
		}
		out = append(out, f)
	}
	return out
}

// documentedOptOut: the README documents the prerequisite, and (when a stack can declare it)
// names, in the same paragraph, a context key that this configuration sets.
func documentedOptOut(pr prerequisite, s *Synthesis, readme string) bool {
	if pr.Readme == nil {
		return false
	}
	for _, para := range strings.Split(readme, "\n\n") {
		if !pr.Readme.MatchString(para) {
			continue
		}
		if pr.Declared == nil {
			return true
		}
		for k := range s.Context {
			if !strings.ContainsAny(k, ":@") && strings.Contains(para, k) && userSet(s, k) {
				return true
			}
		}
	}
	return false
}

// userSet tells whether the test's configuration set context key k (not cdk.json).
func userSet(s *Synthesis, k string) bool {
	def, err := cdkContext()
	if err != nil {
		return false
	}
	_, inFile := def[k]
	return !inFile
}

// TestRehearsalPrerequisites: every account-level setting a resource needs is declared by a
// stack, or documented in the README with the context key that turns its declaration off.
func TestRehearsalPrerequisites(t *testing.T) {
	rules := loadRules(t)
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var findings []Finding
	needs := 0
	for _, c := range rehearsalConfigs() {
		s := synthConfig(t, c)
		if s == nil {
			continue
		}
		fs := prereqFindings(deployConfig(t, rules, s, c), s, string(raw), &needs)
		for i := range fs {
			fs[i].Where = c.Name
		}
		findings = append(findings, fs...)
	}
	t.Logf("rehearsal prerequisites: %d table rows; %d resources and stacks needing one, in %d configurations", len(prerequisites), needs, len(rehearsalConfigs()))
	reportFindings(t, "account prerequisites", findings)
}
