package test

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// Registry is the CloudFormation resource schema data that npm @aws-cdk/aws-service-spec ships
// (the registry schemas the CDK generates its L1 classes from), read for what the tests ask of
// it: which properties of a resource type CloudFormation cannot update in place.
type Registry struct {
	// createOnly are the JSON-pointer paths ("/KafkaCluster/ApacheKafkaCluster/Vpc/Subnets") of
	// the create-only properties of each resource type, nested ones included.
	createOnly map[string][]string
}

var (
	registryOnce sync.Once
	registry     *Registry
	registryErr  error
)

// LoadRegistry reads node_modules/@aws-cdk/aws-service-spec/db.json.gz once.
func LoadRegistry(t testing.TB) *Registry {
	t.Helper()
	dir := testenv.NodeModule(t, "@aws-cdk/aws-service-spec")
	registryOnce.Do(func() { registry, registryErr = readRegistry(filepath.Join(dir, "db.json.gz")) })
	if registryErr != nil {
		t.Fatalf("@aws-cdk/aws-service-spec: %v", registryErr)
	}
	return registry
}

// serviceSpecType is a property type in the service-spec database: a reference to a type definition,
// a collection of an element type, or a union.
type serviceSpecType struct {
	Type      string `json:"type"`
	Reference struct {
		Ref string `json:"$ref"`
	} `json:"reference"`
	Element *serviceSpecType  `json:"element"`
	Types   []serviceSpecType `json:"types"`
}

type serviceSpecProperty struct {
	Type              serviceSpecType `json:"type"`
	CausesReplacement string          `json:"causesReplacement"`
}

func readRegistry(path string) (*Registry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var db struct {
		Schema struct {
			Resource struct {
				Entities []struct {
					CloudFormationType string                         `json:"cloudFormationType"`
					Properties         map[string]serviceSpecProperty `json:"properties"`
				} `json:"entities"`
			} `json:"resource"`
			TypeDefinition struct {
				Entities []struct {
					ID         string                         `json:"$id"`
					Properties map[string]serviceSpecProperty `json:"properties"`
				} `json:"entities"`
			} `json:"typeDefinition"`
		} `json:"schema"`
	}
	if err := json.NewDecoder(zr).Decode(&db); err != nil {
		return nil, err
	}
	types := map[string]map[string]serviceSpecProperty{}
	for _, d := range db.Schema.TypeDefinition.Entities {
		types[d.ID] = d.Properties
	}
	r := &Registry{createOnly: map[string][]string{}}
	for _, e := range db.Schema.Resource.Entities {
		var paths []string
		var walk func(props map[string]serviceSpecProperty, prefix string, seen map[string]bool)
		walk = func(props map[string]serviceSpecProperty, prefix string, seen map[string]bool) {
			for name, p := range props {
				path := prefix + "/" + name
				if p.CausesReplacement == "yes" {
					paths = append(paths, path)
				}
				for _, ref := range refs(p.Type) {
					if !seen[ref] {
						seen[ref] = true
						walk(types[ref], path, seen)
						delete(seen, ref)
					}
				}
			}
		}
		walk(e.Properties, "", map[string]bool{})
		sort.Strings(paths)
		r.createOnly[e.CloudFormationType] = paths
	}
	return r, nil
}

// refs are the type definitions a property type refers to.
func refs(t serviceSpecType) []string {
	var out []string
	if t.Type == "ref" && t.Reference.Ref != "" {
		out = append(out, t.Reference.Ref)
	}
	if t.Element != nil {
		out = append(out, refs(*t.Element)...)
	}
	for _, u := range t.Types {
		out = append(out, refs(u)...)
	}
	return out
}

// CreateOnly are the create-only property paths of resource type typ; ok is false for a type
// the registry does not know (a custom resource).
func (r *Registry) CreateOnly(typ string) (paths []string, ok bool) {
	paths, ok = r.createOnly[typ]
	return paths, ok
}
