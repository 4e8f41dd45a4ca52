package test

import "testing"

func TestIngestionDefault(t *testing.T) {
	s := Synth(t, nil)
	p := s.Pipeline
	Snapshot(t, "ingestion", s.TemplateJSON(t, p.Ingestion.Stack))
	s.RequireNoNagFindings(t, p.Ingestion.Stack)
}
