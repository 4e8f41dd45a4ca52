// Package test holds the CDK stack tests (snapshots, security assertions, cdk-nag, CloudFormation
// validation) and the end-to-end tests. Every test binary that imports the CDK starts one Node
// process, so stack tests live here, in one package, and share these helpers:
//
//   - Synth(t, ctx) synthesizes the whole app (stacks.NewPipeline) once per distinct context and
//     returns a *Synthesis: the pipeline's stacks, the cloud assembly directory, each stack's
//     template (Template / Assert), and the cdk-nag and validation findings.
//   - Must(t, f) runs an `assertions` call and turns its panic into a clean test failure.
//   - Snapshot(t, name, template) compares a template with test/testdata/<name>.json (asset hashes
//     masked); `go test ./test -update` rewrites the golden files.
//   - NagFindings / RequireNoNagFindings report cdk-nag AwsSolutions errors and warnings that are
//     not suppressed.
//   - RequireCleanValidation fails on any finding of CDK's built-in CloudFormation validation.
package test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/stacks"
)

var update = flag.Bool("update", false, "rewrite the golden templates under test/testdata")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	// Templates must not depend on the developer's AWS profile: synthesize environment-agnostic.
	os.Unsetenv("CDK_DEFAULT_ACCOUNT")
	os.Unsetenv("CDK_DEFAULT_REGION")
	code := m.Run()
	jsii.Close()
	for _, s := range synthCache {
		os.RemoveAll(s.Dir)
	}
	os.Exit(code)
}

// Synthesis is one synthesized app.
type Synthesis struct {
	Config stacks.Config
	// Context is the context the app was synthesized with (cdk.json's, overlaid by the test's).
	Context  map[string]interface{}
	Pipeline *stacks.Pipeline
	// Dir is the cloud assembly directory (cdk.out of this synthesis).
	Dir string

	manifest manifest
}

// manifest is the part of the cloud assembly's manifest.json the helpers read.
type manifest struct {
	Artifacts map[string]struct {
		Type         string                       `json:"type"`
		Dependencies []string                     `json:"dependencies"`
		Metadata     map[string][]json.RawMessage `json:"metadata"`
		Properties   struct {
			TemplateFile string `json:"templateFile"`
			StackName    string `json:"stackName"`
		} `json:"properties"`
	} `json:"artifacts"`
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]*Synthesis{}
	// synthErrors remembers the configurations that did not synthesize, so that tests sharing
	// one do not pay for it twice.
	synthErrors = map[string]error{}
)

// Synth synthesizes the pipeline with the context of cdk.json overlaid by ctx (nil for the
// defaults), with cdk-nag AwsSolutions checks applied and CDK's built-in CloudFormation
// validation on. Results are cached per context: tests that only read share one synthesis.
// A synthesis that fails (bad configuration, validation errors) fails the test with its message.
func Synth(t testing.TB, ctx map[string]interface{}) *Synthesis {
	t.Helper()
	return SynthEnv(t, Env{}, ctx)
}

// Env is the account and region a synthesis targets, as the CDK CLI passes them in
// CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION; the zero Env is an environment-agnostic synthesis.
type Env struct{ Account, Region string }

// SynthEnv is Synth for stacks bound to env (Config.Account and Config.Region).
func SynthEnv(t testing.TB, env Env, ctx map[string]interface{}) *Synthesis {
	t.Helper()
	s, err := TrySynthEnv(env, ctx)
	if err != nil {
		key, _ := json.Marshal(ctx)
		t.Fatalf("synth with context %s (env %+v): %v", key, env, err)
	}
	return s
}

// TrySynthEnv is SynthEnv that returns the synthesis error (a configuration the app refuses, a
// panic in a construct) instead of failing the test. Results and errors are cached alike.
func TrySynthEnv(env Env, ctx map[string]interface{}) (*Synthesis, error) {
	k, _ := json.Marshal(ctx)
	key := env.Account + "/" + env.Region + " " + string(k)
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthCache[key]; ok {
		return s, nil
	}
	if err, ok := synthErrors[key]; ok {
		return nil, err
	}
	s, err := synthesize(env, ctx)
	if err != nil {
		synthErrors[key] = err
		return nil, err
	}
	synthCache[key] = s
	return s, nil
}

// synthesize builds and synthesizes one app; a panic inside the CDK becomes the error.
func synthesize(env Env, overrides map[string]interface{}) (s *Synthesis, err error) {
	var dir string
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%v", r)
		}
		if err != nil && dir != "" {
			os.RemoveAll(dir)
		}
	}()
	ctx, err := cdkContext()
	if err != nil {
		return nil, err
	}
	for k, v := range overrides {
		ctx[k] = v
	}
	dir, err = os.MkdirTemp("", "pinpipe-cdk-*")
	if err != nil {
		return nil, err
	}
	app := awscdk.NewApp(&awscdk.AppProps{
		Context:                         &ctx,
		Outdir:                          jsii.String(dir),
		AnalyticsReporting:              jsii.Bool(false),
		BuiltinCloudFormationValidation: jsii.Bool(true),
	})
	cfg, err := stacks.LoadConfig(app.Node())
	if err != nil {
		return nil, err
	}
	if env.Account != "" || env.Region != "" {
		cfg.Account, cfg.Region = env.Account, env.Region
	}
	p := stacks.NewPipeline(app, cfg)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	s = &Synthesis{Config: cfg, Context: ctx, Pipeline: p, Dir: dir}
	return s, s.readManifest()
}

// StackTemplate is one stack of a synthesis: its CloudFormation stack name and parsed template.
type StackTemplate struct {
	Name     string
	Template map[string]interface{}
}

// StackTemplates are every stack of the cloud assembly (whatever stacks the app declares),
// sorted by name.
func (s *Synthesis) StackTemplates(t testing.TB) []StackTemplate {
	t.Helper()
	var out []StackTemplate
	for id, a := range s.manifest.Artifacts {
		if a.Type != "aws:cloudformation:stack" {
			continue
		}
		name := a.Properties.StackName
		if name == "" {
			name = id
		}
		raw, err := os.ReadFile(filepath.Join(s.Dir, a.Properties.TemplateFile))
		if err != nil {
			t.Fatalf("template of %s: %v", name, err)
		}
		var m map[string]interface{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("template of %s: %v", name, err)
		}
		out = append(out, StackTemplate{Name: name, Template: m})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// readManifest loads the assembly's manifest.json (artifacts and their metadata).
func (s *Synthesis) readManifest() error {
	raw, err := os.ReadFile(filepath.Join(s.Dir, "manifest.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &s.manifest); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	return nil
}

// cdkContext is the "context" object of the repository's cdk.json: the same feature flags and
// defaults as `npx cdk synth`.
func cdkContext() (map[string]interface{}, error) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "cdk.json"))
	if err != nil {
		return nil, err
	}
	var f struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	return f.Context, nil
}

// TemplateJSON is the synthesized template of stack, as parsed JSON.
func (s *Synthesis) TemplateJSON(t testing.TB, stack awscdk.Stack) map[string]interface{} {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.Dir, *stack.TemplateFile()))
	if err != nil {
		t.Fatalf("template of %s: %v", *stack.StackName(), err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("template of %s: %v", *stack.StackName(), err)
	}
	return m
}

// Template is the assertions view of stack's synthesized template (no second synthesis).
func (s *Synthesis) Template(t testing.TB, stack awscdk.Stack) assertions.Template {
	t.Helper()
	m := s.TemplateJSON(t, stack)
	return assertions.Template_FromJSON(&m, nil)
}

// Must runs f, an `assertions` check that panics on mismatch, and reports the panic as a test
// failure (the test goes on), so one wrong property does not abort the whole test binary.
func Must(t testing.TB, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Helper()
			t.Errorf("%v", r)
		}
	}()
	f()
}

// Resources returns the resources of type typ in tmpl (logical id → resource), for checks that
// are clearer in Go than as assertions matchers.
func Resources(tmpl map[string]interface{}, typ string) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	res, _ := tmpl["Resources"].(map[string]interface{})
	for id, r := range res {
		m, _ := r.(map[string]interface{})
		if m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

// Props is the Properties object of resource r.
func Props(r map[string]interface{}) map[string]interface{} {
	p, _ := r["Properties"].(map[string]interface{})
	return p
}

// hashRE matches asset hashes: 64 hex digits (S3 keys, asset parameters, construct hashes).
var hashRE = regexp.MustCompile(`[0-9a-f]{64}`)

// Snapshot compares tmpl with the golden file test/testdata/<name>.json, after masking asset
// hashes (which change with every rebuild of a Lambda or its toolchain) — only the hashes, so
// any other change to a resource shows up. With -update the golden file is rewritten; on a
// mismatch the actual template is written beside it as <name>.actual.json (git-ignored).
func Snapshot(t testing.TB, name string, tmpl map[string]interface{}) {
	t.Helper()
	got, err := json.MarshalIndent(tmpl, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = hashRE.ReplaceAll(got, []byte("<asset-hash>"))
	got = append(got, '\n')
	golden := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run `go test ./test -run %s -update` to create it)", err, t.Name())
	}
	if bytes.Equal(got, want) {
		return
	}
	actual := filepath.Join("testdata", name+".actual.json")
	_ = os.WriteFile(actual, got, 0o644)
	t.Errorf("template %s differs from %s (actual written to %s; diff them, and run with -update if the change is meant):\n%s",
		name, golden, actual, firstDiff(string(want), string(got)))
}

// firstDiff shows the first differing line of two texts with a little context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  golden: %s\n  actual: %s", i+1, wl, gl)
		}
	}
	return "(same lines; different line endings?)"
}

// NagFinding is one cdk-nag error or warning left unsuppressed.
type NagFinding struct {
	Level string // "error" or "warning"
	Path  string // construct path of the resource
	Text  string // rule id and explanation
}

func (f NagFinding) String() string { return f.Level + " " + f.Path + ": " + f.Text }

// NagFindings are the unsuppressed cdk-nag AwsSolutions errors and warnings of stack, read from
// the cloud assembly's metadata.
func (s *Synthesis) NagFindings(stack awscdk.Stack) []NagFinding {
	var out []NagFinding
	id := *stack.ArtifactId()
	metadata := s.manifest.Artifacts[id].Metadata
	// Newer assemblies keep the metadata in <artifact>.metadata.json beside the manifest.
	if raw, err := os.ReadFile(filepath.Join(s.Dir, id+".metadata.json")); err == nil {
		_ = json.Unmarshal(raw, &metadata)
	}
	for path, entries := range metadata {
		for _, raw := range entries {
			var e struct {
				Type string      `json:"type"`
				Data interface{} `json:"data"`
			}
			if json.Unmarshal(raw, &e) != nil {
				continue
			}
			text, _ := e.Data.(string)
			if !strings.HasPrefix(text, "AwsSolutions-") {
				continue
			}
			switch e.Type {
			case "aws:cdk:error":
				out = append(out, NagFinding{"error", path, text})
			case "aws:cdk:warning":
				out = append(out, NagFinding{"warning", path, text})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// RequireNoNagFindings fails the test listing every unsuppressed cdk-nag finding of stack.
func (s *Synthesis) RequireNoNagFindings(t testing.TB, stack awscdk.Stack) {
	t.Helper()
	if f := s.NagFindings(stack); len(f) > 0 {
		lines := make([]string, len(f))
		for i, x := range f {
			lines[i] = "  " + x.String()
		}
		t.Errorf("%s: %d unsuppressed cdk-nag AwsSolutions findings (fix them, or suppress with a real reason):\n%s",
			*stack.StackName(), len(f), strings.Join(lines, "\n"))
	}
}

// ValidationViolations are the findings of CDK's built-in CloudFormation validation over the
// whole app, from the assembly's validation report, one line each.
func (s *Synthesis) ValidationViolations(t testing.TB) []string {
	t.Helper()
	return validationViolations(t, s.Dir)
}

// validationViolations reads validation-report.json in the assembly directory dir.
func validationViolations(t testing.TB, dir string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "validation-report.json"))
	if err != nil {
		t.Fatalf("built-in CloudFormation validation did not run: %v", err)
	}
	var rep struct {
		PluginReports []struct {
			PluginName string `json:"pluginName"`
			Violations []struct {
				RuleName    string `json:"ruleName"`
				Description string `json:"description"`
				Severity    string `json:"severity"`
				Constructs  []struct {
					Path string `json:"constructPath"`
				} `json:"violatingConstructs"`
			} `json:"violations"`
		} `json:"pluginReports"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("validation-report.json: %v", err)
	}
	var out []string
	for _, pr := range rep.PluginReports {
		for _, v := range pr.Violations {
			var paths []string
			for _, c := range v.Constructs {
				paths = append(paths, c.Path)
			}
			out = append(out, fmt.Sprintf("%s %s %s (%s): %s", pr.PluginName, v.Severity, v.RuleName,
				strings.Join(paths, ", "), v.Description))
		}
	}
	return out
}

// Templates are every stack template of the synthesis (StackTemplates), by stack name, which
// for this app's stacks is also the artifact id: the stacks no Pipeline field names too.
func (s *Synthesis) Templates(t testing.TB) map[string]map[string]interface{} {
	t.Helper()
	out := map[string]map[string]interface{}{}
	for _, st := range s.StackTemplates(t) {
		out[st.Name] = st.Template
	}
	return out
}

// Dependencies are the stacks (artifact ids) the stack artifact id depends on, per the manifest.
func (s *Synthesis) Dependencies(id string) []string {
	return s.manifest.Artifacts[id].Dependencies
}
