package test

// Validation of resource properties against the CloudFormation registry schemas (JSON Schema
// draft-07 as the registry uses it), with CloudFormation's own conversions: a number or boolean
// written as a string is accepted where the schema wants a number or boolean, and scalars where
// it wants a string.
//
// A value that is an intrinsic function is resolved by the deployment model first. When the
// result depends only on the template and the pseudo parameters (Fn::Join of literals and
// AWS::Region, say) it is validated like a literal; when it depends on a deploy-time value (a
// generated id, an attribute, an SSM parameter) only its type is checked, and it is counted as
// skipped.

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Finding is one broken rule, located in a template.
type Finding struct {
	Check     string // which rehearsal check
	Where     string // deployment or configuration it was seen in
	Stack     string
	LogicalID string
	Type      string
	Path      string // property path, e.g. Properties/Capacity/ProvisionedCapacity/McuCount
	Rule      string // the rule that was broken, with the schema's pattern/enum/limit
}

func (f Finding) String() string {
	s := f.Check + ": " + f.Stack + "/" + f.LogicalID
	if f.Type != "" {
		s += " (" + f.Type + ")"
	}
	if f.Path != "" {
		s += " " + f.Path
	}
	s += ": " + f.Rule
	if f.Where != "" {
		s += " [" + f.Where + "]"
	}
	return s
}

// schemaStats counts what the schema check evaluated.
type schemaStats struct {
	Resources, NoSchema, SpecOnly       int
	TopProperties, Values               int
	IntrinsicsChecked, IntrinsicsTyped  int
	PatternsChecked, PatternsUncompiled int
	Coerced                             int
	Types                               map[string]bool
	// Disagreements: where the registry snapshot rejects what the (newer) service spec
	// database documents — a property added since, or a type AWS changed — the value is
	// checked against the service spec instead, and listed here.
	Disagreements map[string]bool
}

// schemaChecker validates resources of one deployment.
type schemaChecker struct {
	rules *cfnRules
	d     *Deployment
	ds    *depStack
	stats *schemaStats
	out   []Finding
	cur   Finding // stack, logical id, type of the resource being checked
	// doc is the schema of the resource being checked, for $ref.
	doc *cfnSchema
}

// CheckResource validates resource id of stack ds against its registry schema (or, lacking
// one, the service spec database) and appends findings.
func (c *schemaChecker) CheckResource(ds *depStack, id string) {
	r := ds.res[id]
	typ, _ := r["Type"].(string)
	c.ds = ds
	c.cur = Finding{Check: "schema", Where: c.d.Label, Stack: ds.name, LogicalID: id, Type: typ}
	if typ == "AWS::CDK::Metadata" || isCustom(typ) {
		c.stats.NoSchema++
		return
	}
	c.stats.Resources++
	c.stats.Types[typ] = true
	props, _ := r["Properties"].(map[string]interface{})
	if props == nil {
		props = map[string]interface{}{}
	}
	s, err := c.rules.Schema(typ)
	if err != nil {
		c.fail("", "%v", err)
		return
	}
	if s == nil {
		c.checkSpecOnly(typ, props)
		return
	}
	c.doc = s
	c.stats.TopProperties += len(props)
	for _, ro := range s.ReadOnlyProperties {
		name := strings.TrimPrefix(ro, "/properties/")
		if _, set := props[name]; set && !strings.Contains(name, "/") {
			c.fail("Properties/"+name, "read-only property (readOnlyProperties): CloudFormation sets it, a template may not")
		}
	}
	c.validate(s.root, props, "Properties")
}

// checkSpecOnly validates a resource whose type the registry snapshot lacks against the service
// spec database: the type exists, every property is known, required ones are set, allowed
// values hold.
func (c *schemaChecker) checkSpecOnly(typ string, props map[string]interface{}) {
	sp := c.rules.Spec(typ)
	if sp == nil {
		c.fail("", "resource type %s exists in neither the CloudFormation registry schemas (%s) nor the service spec database (%s)",
			typ, c.rules.RegistryVersion, c.rules.SpecVersion)
		return
	}
	c.stats.SpecOnly++
	c.stats.TopProperties += len(props)
	for name, v := range props {
		p, ok := sp.Properties[name]
		if !ok {
			c.fail("Properties/"+name, "unknown property of %s (service spec database)", typ)
			continue
		}
		c.stats.Values++
		if allowed, ok := p.Type["allowedValues"].([]interface{}); ok {
			if s, isStr := v.(string); isStr && !containsValue(allowed, s) {
				c.fail("Properties/"+name, "%q is not an allowed value %v (service spec database)", s, allowed)
			}
		}
	}
	for name, p := range sp.Properties {
		if _, set := props[name]; p.Required && !set {
			c.fail("Properties", "required property %s is missing (service spec database)", name)
		}
	}
}

func containsValue(list []interface{}, s string) bool {
	for _, x := range list {
		if scalarString(x) == s {
			return true
		}
	}
	return false
}

func (c *schemaChecker) fail(path, format string, a ...interface{}) {
	f := c.cur
	f.Path = path
	f.Rule = fmt.Sprintf(format, a...)
	c.out = append(c.out, f)
}

// deref follows $ref pointers ("#/definitions/X") within the resource's schema.
func (c *schemaChecker) deref(node map[string]interface{}) map[string]interface{} {
	for i := 0; i < 32; i++ {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		var cur interface{} = c.doc.root
		for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = asMap(cur)[strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")]
		}
		next := asMap(cur)
		if next == nil {
			c.fail("", "schema $ref %s does not resolve", ref)
			return map[string]interface{}{}
		}
		node = next
	}
	return node
}

// validate checks v against schema node at path (appending findings).
func (c *schemaChecker) validate(node map[string]interface{}, v interface{}, path string) {
	c.out = append(c.out, c.check(node, v, path)...)
}

// check returns the findings of v against node, without recording them (oneOf/anyOf try
// several branches).
func (c *schemaChecker) check(node map[string]interface{}, v interface{}, path string) []Finding {
	node = c.deref(node)
	var out []Finding
	fail := func(format string, a ...interface{}) {
		f := c.cur
		f.Path = path
		f.Rule = fmt.Sprintf(format, a...)
		out = append(out, f)
	}
	c.stats.Values++
	if fn, _, ok := IsIntrinsic(v); ok {
		r := c.ds.resolve(v, path)
		if !r.tainted && r.v != noValue {
			c.stats.IntrinsicsChecked++
			return append(out, c.check(node, r.v, path)...)
		}
		c.stats.IntrinsicsTyped++
		if want := schemaTypes(node); len(want) > 0 {
			got := intrinsicKind(fn, r.v)
			if got != "" && !typeAccepts(want, got) {
				fail("%s yields a %s; the schema wants %s", fn, got, strings.Join(want, " or "))
			}
		}
		return out
	}
	if v == nil {
		fail("null value")
		return out
	}
	// Composition.
	if all, ok := node["allOf"].([]interface{}); ok {
		for _, s := range all {
			out = append(out, c.check(asMap(s), v, path)...)
		}
	}
	if anyOf, ok := node["anyOf"].([]interface{}); ok {
		if f := c.branches(anyOf, v, path, false); f != nil {
			out = append(out, *f)
		}
	}
	if oneOf, ok := node["oneOf"].([]interface{}); ok {
		if f := c.branches(oneOf, v, path, true); f != nil {
			out = append(out, *f)
		}
	}
	if not, ok := node["not"].(map[string]interface{}); ok {
		if len(c.check(not, v, path)) == 0 {
			b, _ := json.Marshal(not)
			fail("matches the schema's \"not\" %s", b)
		}
	}
	if want := schemaTypes(node); len(want) > 0 {
		got := jsonKind(v)
		if !typeAccepts(want, got) {
			if coerced, ok := coerce(v, want); ok {
				c.stats.Coerced++
				v = coerced
			} else if c.rules.SpecAccepts(c.cur.Type, specPath(path), got) {
				c.disagree(path, fmt.Sprintf("registry schema wants %s, service spec accepts %s %s", strings.Join(want, " or "), got, brief(v)))
				return out
			} else {
				fail("%s %s where the schema wants %s", got, brief(v), strings.Join(want, " or "))
				return out
			}
		}
	}
	if enum, ok := node["enum"].([]interface{}); ok && !enumHas(enum, v) {
		fail("%s is not one of the schema's enum %s", brief(v), brief(enum))
	}
	if cst, ok := node["const"]; ok && scalarString(cst) != scalarString(v) {
		fail("%s is not the schema's const %s", brief(v), brief(cst))
	}
	switch x := v.(type) {
	case string:
		n := utf8.RuneCountInString(x)
		if m, ok := num(node["minLength"]); ok && float64(n) < m {
			fail("%q is %d characters, shorter than the schema's minLength %v", x, n, m)
		}
		if m, ok := num(node["maxLength"]); ok && float64(n) > m {
			fail("%s is %d characters, longer than the schema's maxLength %v", brief(x), n, m)
		}
		if p, ok := node["pattern"].(string); ok {
			if re := compilePattern(p); re == nil {
				c.stats.PatternsUncompiled++
			} else {
				c.stats.PatternsChecked++
				if !re.MatchString(x) {
					fail("%s does not match the schema's pattern %s", brief(x), p)
				}
			}
		}
	case float64:
		if m, ok := num(node["minimum"]); ok && x < m {
			fail("%v is below the schema's minimum %v", x, m)
		}
		if m, ok := num(node["maximum"]); ok && x > m {
			fail("%v is above the schema's maximum %v", x, m)
		}
		if m, ok := num(node["exclusiveMinimum"]); ok && x <= m {
			fail("%v is not above the schema's exclusiveMinimum %v", x, m)
		}
		if m, ok := num(node["exclusiveMaximum"]); ok && x >= m {
			fail("%v is not below the schema's exclusiveMaximum %v", x, m)
		}
		if containsStr(schemaTypes(node), "integer") && x != math.Trunc(x) {
			fail("%v is not an integer", x)
		}
	case []interface{}:
		if m, ok := num(node["minItems"]); ok && float64(len(x)) < m {
			fail("%d items, fewer than the schema's minItems %v", len(x), m)
		}
		if m, ok := num(node["maxItems"]); ok && float64(len(x)) > m {
			fail("%d items, more than the schema's maxItems %v", len(x), m)
		}
		if u, _ := node["uniqueItems"].(bool); u {
			seen := map[string]bool{}
			for _, e := range x {
				if _, _, intr := IsIntrinsic(e); intr {
					continue
				}
				b, _ := json.Marshal(e)
				if seen[string(b)] {
					fail("item %s repeats; the schema wants uniqueItems", b)
				}
				seen[string(b)] = true
			}
		}
		if items, ok := node["items"].(map[string]interface{}); ok {
			for i, e := range x {
				out = append(out, c.check(items, e, fmt.Sprintf("%s/%d", path, i))...)
			}
		}
	case map[string]interface{}:
		props := asMap(node["properties"])
		patterns := asMap(node["patternProperties"])
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k]; ok {
				out = append(out, c.check(asMap(ps), x[k], path+"/"+k)...)
				continue
			}
			matched := false
			for p, ps := range patterns {
				if re := compilePattern(p); re != nil && re.MatchString(k) {
					matched = true
					out = append(out, c.check(asMap(ps), x[k], path+"/"+k)...)
				}
			}
			if matched {
				continue
			}
			switch ap := node["additionalProperties"].(type) {
			case bool:
				if !ap && c.rules.SpecAccepts(c.cur.Type, specPath(path+"/"+k), c.kind(x[k], path+"/"+k)) {
					c.disagree(path+"/"+k, "not in the registry schema snapshot; the service spec documents it")
				} else if !ap {
					fail("unknown property %q (the schema allows only %s)", k, strings.Join(sortedKeys(props), ", "))
				}
			case map[string]interface{}:
				out = append(out, c.check(ap, x[k], path+"/"+k)...)
			}
		}
		if req, ok := node["required"].([]interface{}); ok {
			for _, r := range req {
				if _, set := x[scalarString(r)]; !set {
					fail("required property %s is missing", r)
				}
			}
		}
		if m, ok := num(node["minProperties"]); ok && float64(len(x)) < m {
			fail("%d properties, fewer than the schema's minProperties %v", len(x), m)
		}
		if m, ok := num(node["maxProperties"]); ok && float64(len(x)) > m {
			fail("%d properties, more than the schema's maxProperties %v", len(x), m)
		}
		for k, dep := range asMap(node["dependencies"]) {
			if _, set := x[k]; !set {
				continue
			}
			if list, ok := dep.([]interface{}); ok {
				for _, r := range list {
					if _, set := x[scalarString(r)]; !set {
						fail("%s needs %s (schema dependencies)", k, r)
					}
				}
			}
		}
	}
	return out
}

// kind is the JSON type of v, resolving an intrinsic.
func (c *schemaChecker) kind(v interface{}, path string) string {
	fn, _, ok := IsIntrinsic(v)
	if !ok {
		return jsonKind(v)
	}
	r := c.ds.resolve(v, path)
	if k := intrinsicKind(fn, r.v); k != "" {
		return k
	}
	return jsonKind(r.v)
}

func (c *schemaChecker) disagree(path, what string) {
	if c.stats.Disagreements == nil {
		c.stats.Disagreements = map[string]bool{}
	}
	c.stats.Disagreements[c.cur.Type+" "+regexp.MustCompile(`/\d+`).ReplaceAllString(path, "/*")+": "+what] = true
}

// specPath is a finding's property path as SpecProperty wants it (without "Properties").
func specPath(path string) []string {
	parts := strings.Split(path, "/")
	if len(parts) > 0 && parts[0] == "Properties" {
		parts = parts[1:]
	}
	return parts
}

// branches checks v against anyOf (exactly=false) or oneOf (exactly=true) alternatives and
// returns the finding, or nil when the rule holds.
func (c *schemaChecker) branches(alts []interface{}, v interface{}, path string, exactly bool) *Finding {
	matches := 0
	var closest []Finding
	for _, a := range alts {
		fs := c.check(asMap(a), v, path)
		if len(fs) == 0 {
			matches++
		} else if closest == nil || len(fs) < len(closest) {
			closest = fs
		}
	}
	f := c.cur
	f.Path = path
	switch {
	case matches == 0:
		kw := "anyOf"
		if exactly {
			kw = "oneOf"
		}
		reasons := make([]string, 0, len(closest))
		for _, x := range closest {
			reasons = append(reasons, strings.TrimPrefix(x.Path, path)+": "+x.Rule)
		}
		f.Rule = fmt.Sprintf("matches none of the schema's %d %s alternatives (closest: %s)", len(alts), kw, strings.Join(reasons, "; "))
		return &f
	case exactly && matches > 1:
		f.Rule = fmt.Sprintf("matches %d of the schema's oneOf alternatives; it must match exactly one", matches)
		return &f
	}
	return nil
}

func sortedKeys(m map[string]interface{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func schemaTypes(node map[string]interface{}) []string {
	switch t := node["type"].(type) {
	case string:
		return []string{t}
	case []interface{}:
		out := make([]string, 0, len(t))
		for _, x := range t {
			out = append(out, scalarString(x))
		}
		return out
	}
	return nil
}

func jsonKind(v interface{}) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case []interface{}:
		return "array"
	case map[string]interface{}:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// typeAccepts: an integer is a number too.
func typeAccepts(want []string, got string) bool {
	for _, w := range want {
		if w == got || (w == "number" && got == "integer") {
			return true
		}
	}
	return false
}

// coerce converts v as CloudFormation does between scalar types, when the schema wants one.
func coerce(v interface{}, want []string) (interface{}, bool) {
	s, isStr := v.(string)
	for _, w := range want {
		switch w {
		case "integer", "number":
			if isStr {
				if f, err := strconv.ParseFloat(s, 64); err == nil && (w == "number" || f == math.Trunc(f)) {
					return f, true
				}
			}
		case "boolean":
			if isStr && (s == "true" || s == "false") {
				return s == "true", true
			}
		case "string":
			switch v.(type) {
			case float64, bool:
				return scalarString(v), true
			}
		}
	}
	return nil, false
}

// intrinsicKind is the JSON type an unresolved intrinsic yields ("" when it cannot be told).
func intrinsicKind(fn string, resolved interface{}) string {
	switch fn {
	case "Fn::Join", "Fn::Sub", "Fn::Base64", "Fn::ImportValue", "Fn::ToJsonString":
		return "string"
	case "Fn::Split", "Fn::GetAZs", "Fn::Cidr":
		return "array"
	case "Fn::Length":
		return "integer"
	case "Ref", "Fn::GetAtt", "Fn::Select", "Fn::If", "Fn::FindInMap":
		if resolved == nil || resolved == noValue {
			return ""
		}
		k := jsonKind(resolved)
		if k == "integer" || k == "number" || k == "boolean" {
			return "" // attributes and parameters convert
		}
		return k
	}
	return ""
}

func enumHas(enum []interface{}, v interface{}) bool {
	for _, e := range enum {
		if scalarString(e) == scalarString(v) {
			return true
		}
	}
	return false
}

func num(v interface{}) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

// brief renders v for a message, shortened.
func brief(v interface{}) string {
	var s string
	if str, ok := v.(string); ok {
		s = strconv.Quote(str)
	} else {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	if len(s) > 160 {
		s = s[:150] + "…(" + strconv.Itoa(len(s)) + " chars)"
	}
	return s
}

var (
	patternMu    sync.Mutex
	patternCache = map[string]*regexp.Regexp{}
)

// compilePattern compiles an ECMA-262 pattern of a schema with Go's RE2, or returns nil when
// it uses what RE2 lacks (look-around, back references).
func compilePattern(p string) *regexp.Regexp {
	patternMu.Lock()
	defer patternMu.Unlock()
	if re, ok := patternCache[p]; ok {
		return re
	}
	// ECMA's \d, \w, \s are ASCII as RE2's; "\/" is a literal slash; \p{L} is the same.
	re, err := regexp.Compile(strings.ReplaceAll(p, `\/`, `/`))
	if err != nil {
		re = nil
	}
	patternCache[p] = re
	return re
}
