package test

import (
	"testing"
)

// The default configuration synthesizes, every stack matches its golden template, passes cdk-nag
// and CloudFormation validation.
func TestStacksDefault(t *testing.T) {
	s := Synth(t, nil)
	if v := s.ValidationViolations(t); len(v) > 0 {
		t.Errorf("built-in CloudFormation validation reported:\n%v", v)
	}
	p := s.Pipeline
	Snapshot(t, "network", s.TemplateJSON(t, p.Network.Stack))
	Snapshot(t, "storage", s.TemplateJSON(t, p.Storage.Stack))
	Snapshot(t, "kafka", s.TemplateJSON(t, p.Kafka.Stack))
	s.RequireNoNagFindings(t, p.Network.Stack)
	s.RequireNoNagFindings(t, p.Storage.Stack)
	s.RequireNoNagFindings(t, p.Kafka.Stack)
}
