package test

// The deploy rehearsal's view of AWS's published CloudFormation rules:
//
//   - the CloudFormation registry schemas (one JSON Schema per resource type, as the registry
//     publishes them: properties, required, types, enums, patterns, lengths, createOnly and
//     readOnly lists), from the Go module github.com/aws-cloudformation/rain — AWS's own
//     CloudFormation CLI, which ships a snapshot of every schema of the registry;
//   - the AWS service spec database of the npm package @aws-cdk/aws-service-spec (what CDK's L1
//     classes are generated from): resource types, property types, required, allowed values,
//     causesReplacement, ARN templates. It has no patterns or lengths, so the registry schemas
//     are what the properties are validated against; the database names the resource types
//     the registry snapshot lacks, adds its replacement facts to the createOnly lists, and gives
//     the ARN formats of the fake deployment (cfnmodel_test.go).

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// The registry schemas' module: version and go.sum-style hash pinned here; scripts/setup.sh
// downloads exactly this (TestRegistryPinnedInSetup keeps the two in step).
const (
	registryModule  = "github.com/aws-cloudformation/rain"
	registryVersion = "v1.24.4"
	registryZipHash = "h1:OBXwmwlKfqb+Cs7KNLY/SdPdQpXZN4ybSBYfvQF2cKs="
	registryDir     = "internal/aws/cfn/schemas/aws"
)

// cfnSchema is one registry schema.
type cfnSchema struct {
	TypeName             string                 `json:"typeName"`
	Properties           map[string]interface{} `json:"properties"`
	Definitions          map[string]interface{} `json:"definitions"`
	Required             []string               `json:"required"`
	CreateOnlyProperties []string               `json:"createOnlyProperties"`
	ReadOnlyProperties   []string               `json:"readOnlyProperties"`
	WriteOnlyProperties  []string               `json:"writeOnlyProperties"`
	PrimaryIdentifier    []string               `json:"primaryIdentifier"`
	// root is the whole document, for $ref pointers.
	root map[string]interface{}
}

// specResource is a resource type of the service spec database.
type specResource struct {
	Type              string
	PrimaryIdentifier []string
	ArnTemplate       string
	// Properties by name: their type (as the database spells it), whether required, whether
	// a change replaces the resource, and their allowed values.
	Properties map[string]specProperty
	Attributes map[string]bool
}

type specProperty struct {
	Type              map[string]interface{}   `json:"type"`
	PreviousTypes     []map[string]interface{} `json:"previousTypes"`
	Required          bool                     `json:"required"`
	CausesReplacement string                   `json:"causesReplacement"`
}

// cfnRules is the rule data the rehearsal checks against.
type cfnRules struct {
	schemaDir string
	mu        sync.Mutex
	schemas   map[string]*cfnSchema // by type; nil when the registry has none
	spec      map[string]*specResource
	specTypes map[string]map[string]specProperty // properties of type definitions, by $id
	// Versions, for the log.
	RegistryVersion, SpecVersion string
}

var (
	rulesOnce sync.Once
	rulesVal  *cfnRules
	rulesErr  error
)

// loadRules loads the registry schemas' location and the service spec database once per test
// binary; missing data skips the test, or fails it under CI.
func loadRules(t testing.TB) *cfnRules {
	t.Helper()
	rulesOnce.Do(func() { rulesVal, rulesErr = readRules() })
	if rulesErr != nil {
		testenv.Missing(t, rulesErr.Error())
	}
	return rulesVal
}

func readRules() (*cfnRules, error) {
	dir, err := registrySchemaDir()
	if err != nil {
		return nil, err
	}
	r := &cfnRules{schemaDir: dir, schemas: map[string]*cfnSchema{}, RegistryVersion: registryModule + "@" + registryVersion}
	specDir := filepath.Join(testenv.RepoRoot(), "node_modules", "@aws-cdk", "aws-service-spec")
	if err := r.readSpec(specDir); err != nil {
		return nil, err
	}
	return r, nil
}

// registrySchemaDir is the schema folder of the pinned module in the Go module cache, after
// checking that the cache holds exactly the pinned content.
func registrySchemaDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	cache := strings.TrimSpace(string(out))
	hash, err := os.ReadFile(filepath.Join(cache, "cache", "download", registryModule, "@v", registryVersion+".ziphash"))
	if err != nil {
		return "", fmt.Errorf("the CloudFormation registry schemas (Go module %s@%s) are not in the module cache: run scripts/setup.sh", registryModule, registryVersion)
	}
	if got := strings.TrimSpace(string(hash)); got != registryZipHash {
		return "", fmt.Errorf("module %s@%s in the cache has hash %s, want the pinned %s", registryModule, registryVersion, got, registryZipHash)
	}
	dir := filepath.Join(cache, registryModule+"@"+registryVersion, registryDir)
	if _, err := os.Stat(filepath.Join(dir, "s3", "bucket.json")); err != nil {
		return "", fmt.Errorf("registry schemas: %w", err)
	}
	return dir, nil
}

// Schema is the registry schema of typ, or nil when the registry snapshot has none.
func (r *cfnRules) Schema(typ string) (*cfnSchema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.schemas[typ]; ok {
		return s, nil
	}
	parts := strings.Split(typ, "::")
	if len(parts) != 3 || parts[0] != "AWS" {
		r.schemas[typ] = nil
		return nil, nil
	}
	raw, err := os.ReadFile(filepath.Join(r.schemaDir, strings.ToLower(parts[1]), strings.ToLower(parts[2])+".json"))
	if os.IsNotExist(err) {
		r.schemas[typ] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s cfnSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("registry schema of %s: %w", typ, err)
	}
	if err := json.Unmarshal(raw, &s.root); err != nil {
		return nil, err
	}
	if s.TypeName != typ {
		return nil, fmt.Errorf("registry schema file for %s holds %s", typ, s.TypeName)
	}
	r.schemas[typ] = &s
	return &s, nil
}

// readSpec loads the service spec database (db.json.gz): resources and type definitions.
func (r *cfnRules) readSpec(dir string) error {
	pkg, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return fmt.Errorf("npm package @aws-cdk/aws-service-spec is not installed (run npm ci): %w", err)
	}
	var meta struct{ Version string }
	_ = json.Unmarshal(pkg, &meta)
	r.SpecVersion = "@aws-cdk/aws-service-spec@" + meta.Version
	f, err := os.Open(filepath.Join(dir, "db.json.gz"))
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("service spec database: %w", err)
	}
	var db struct {
		Schema struct {
			Resource struct {
				Entities []struct {
					ID                 string                  `json:"$id"`
					CloudFormationType string                  `json:"cloudFormationType"`
					PrimaryIdentifier  []string                `json:"primaryIdentifier"`
					ArnTemplate        string                  `json:"arnTemplate"`
					Properties         map[string]specProperty `json:"properties"`
					Attributes         map[string]interface{}  `json:"attributes"`
				} `json:"entities"`
			} `json:"resource"`
			TypeDefinition struct {
				Entities []struct {
					ID         string                  `json:"$id"`
					Properties map[string]specProperty `json:"properties"`
				} `json:"entities"`
			} `json:"typeDefinition"`
		} `json:"schema"`
	}
	if err := json.NewDecoder(zr).Decode(&db); err != nil {
		return fmt.Errorf("service spec database: %w", err)
	}
	r.spec = map[string]*specResource{}
	for _, e := range db.Schema.Resource.Entities {
		sr := &specResource{Type: e.CloudFormationType, PrimaryIdentifier: e.PrimaryIdentifier,
			ArnTemplate: e.ArnTemplate, Properties: e.Properties, Attributes: map[string]bool{}}
		for a := range e.Attributes {
			sr.Attributes[a] = true
		}
		r.spec[e.CloudFormationType] = sr
	}
	r.specTypes = map[string]map[string]specProperty{}
	for _, e := range db.Schema.TypeDefinition.Entities {
		r.specTypes[e.ID] = e.Properties
	}
	if len(r.spec) < 1000 {
		return fmt.Errorf("service spec database: only %d resource types", len(r.spec))
	}
	return nil
}

// Spec is the service spec database's resource type typ, or nil.
func (r *cfnRules) Spec(typ string) *specResource { return r.spec[typ] }

// SpecProperty finds the property at path (property names and list indices below Properties,
// e.g. ["Capacity", "ProvisionedCapacity", "McuCount"]) of resource type typ in the service spec
// database, with the types a value there may have (the current one and the previous ones).
func (r *cfnRules) SpecProperty(typ string, path []string) (types []map[string]interface{}, ok bool) {
	sp := r.Spec(typ)
	if sp == nil || len(path) == 0 {
		return nil, false
	}
	props := sp.Properties
	var cur []map[string]interface{}
	for i, step := range path {
		if cur != nil {
			// Step into the value of the current type: list element, map value, or a type
			// definition's property.
			var next []map[string]interface{}
			for _, t := range cur {
				switch t["type"] {
				case "array", "map":
					if e, ok := t["element"].(map[string]interface{}); ok && isIndexOrKey(step, t["type"]) {
						next = append(next, e)
						continue
					}
				case "ref":
					id, _ := asMap(t["reference"])["$ref"].(string)
					if p, ok := r.specTypes[id][step]; ok {
						next = append(next, p.Type)
						next = append(next, p.PreviousTypes...)
					}
				case "union":
					if ts, ok := t["types"].([]interface{}); ok {
						for _, u := range ts {
							cur = append(cur, asMap(u))
						}
					}
				}
			}
			if len(next) == 0 {
				return nil, false
			}
			cur = next
			continue
		}
		p, ok := props[step]
		if !ok || i > 0 {
			return nil, false
		}
		cur = append([]map[string]interface{}{p.Type}, p.PreviousTypes...)
	}
	return cur, true
}

func isIndexOrKey(step string, kind interface{}) bool {
	if kind == "map" {
		return true
	}
	for _, c := range step {
		if c < '0' || c > '9' {
			return false
		}
	}
	return step != ""
}

// SpecAccepts tells whether a value of JSON kind (string, integer, number, boolean, array,
// object) at path fits one of the service spec's types for it.
func (r *cfnRules) SpecAccepts(typ string, path []string, kind string) bool {
	types, ok := r.SpecProperty(typ, path)
	if !ok {
		return false
	}
	for _, t := range types {
		switch t["type"] {
		case "string", "date-timestamp":
			if kind == "string" {
				return true
			}
		case "integer":
			if kind == "integer" {
				return true
			}
		case "number":
			if kind == "integer" || kind == "number" {
				return true
			}
		case "boolean":
			if kind == "boolean" {
				return true
			}
		case "array":
			if kind == "array" {
				return true
			}
		case "json", "map", "ref", "tag":
			if kind == "object" {
				return true
			}
		}
	}
	return false
}

// CreateOnlyPaths are the properties of typ whose change replaces the resource, as paths below
// Properties ("KafkaCluster", "BrokerNodeGroupInfo/ClientSubnets"): the registry schema's
// createOnlyProperties, and every property, nested ones included, to which the service spec
// database gives causesReplacement "yes" (it knows types the registry snapshot lacks, such as
// AWS::MSK::Topic). A change anywhere below a path replaces the resource. known is false for a
// type neither knows (a custom resource). This is the one reader of replacement facts: the
// fake deployment's identities, the replacement check and the names' digests all use it.
func (r *cfnRules) CreateOnlyPaths(typ string) (paths []string, known bool, err error) {
	set := map[string]bool{}
	s, err := r.Schema(typ)
	if err != nil {
		return nil, false, err
	}
	if s != nil {
		known = true
		for _, p := range s.CreateOnlyProperties {
			set[strings.TrimPrefix(p, "/properties/")] = true
		}
	}
	if sp := r.Spec(typ); sp != nil {
		known = true
		var walk func(props map[string]specProperty, prefix string, seen map[string]bool)
		walk = func(props map[string]specProperty, prefix string, seen map[string]bool) {
			for name, p := range props {
				path := prefix + name
				if p.CausesReplacement == "yes" {
					set[path] = true
				}
				for _, t := range append([]map[string]interface{}{p.Type}, p.PreviousTypes...) {
					for _, ref := range specRefs(t) {
						if !seen[ref] {
							seen[ref] = true
							walk(r.specTypes[ref], path+"/", seen)
							delete(seen, ref)
						}
					}
				}
			}
		}
		walk(sp.Properties, "", map[string]bool{})
	}
	paths = make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths, known, nil
}

// specRefs are the type definitions a service spec type refers to: itself, its element (lists
// and maps), or its union's members. List elements and map values add no path segment, as
// the registry's createOnly paths name them.
func specRefs(t map[string]interface{}) []string {
	var out []string
	switch t["type"] {
	case "ref":
		if id, _ := asMap(t["reference"])["$ref"].(string); id != "" {
			out = append(out, id)
		}
	case "array", "map":
		out = append(out, specRefs(asMap(t["element"]))...)
	case "union":
		for _, u := range asSlice(t["types"]) {
			out = append(out, specRefs(asMap(u))...)
		}
	}
	return out
}

// TestRegistryPinnedInSetup: setup.sh downloads the registry schemas' module at the version and
// hash this file pins.
func TestRegistryPinnedInSetup(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "scripts", "setup.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if want := registryModule + "@" + registryVersion; !strings.Contains(string(raw), want) {
		t.Errorf("scripts/setup.sh does not download %s (the registry schemas the rehearsal reads)", want)
	}
}
