package test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// The helpers must be able to fail: a template with a schema error and a bucket that breaks
// AwsSolutions rules are reported by them.
func TestHarnessReportsFindings(t *testing.T) {
	dir := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(dir), BuiltinCloudFormationValidation: jsii.Bool(true)})
	st := awscdk.NewStack(app, jsii.String("Probe"), nil)
	awscdk.NewCfnResource(st, jsii.String("Bad"), &awscdk.CfnResourceProps{
		Type: jsii.String("AWS::S3::Bucket"), Properties: &map[string]interface{}{"NoSuchProperty": 1},
	})
	awss3.NewBucket(st, jsii.String("Open"), nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(nil), nil)
	app.Synth(nil)

	v := validationViolations(t, dir)
	if len(v) == 0 || !strings.Contains(strings.Join(v, "\n"), "NoSuchProperty") {
		t.Errorf("validation report should name NoSuchProperty, got %q", v)
	}
	s := &Synthesis{Dir: dir}
	if err := s.readManifest(); err != nil {
		t.Fatal(err)
	}
	f := s.NagFindings(st)
	var rules []string
	for _, x := range f {
		rules = append(rules, x.Text)
	}
	if !strings.Contains(strings.Join(rules, "\n"), "AwsSolutions-S10") {
		t.Errorf("cdk-nag findings should include AwsSolutions-S10 for a bucket without TLS enforcement, got %q", rules)
	}
}
