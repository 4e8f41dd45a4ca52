package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Metadata is the part of an Iceberg table metadata file (Iceberg table spec, "Table Metadata
// Fields") that schema evolution needs.
type Metadata struct {
	FormatVersion   int      `json:"format-version"`
	Location        string   `json:"location"`
	LastColumnID    int32    `json:"last-column-id"`
	CurrentSchemaID int32    `json:"current-schema-id"`
	Schemas         []Schema `json:"schemas"`
}

// Schema is an Iceberg schema: a struct of fields.
type Schema struct {
	SchemaID int32   `json:"schema-id"`
	Type     string  `json:"type"`
	Fields   []Field `json:"fields"`
}

// Field is an Iceberg struct field. Type is a primitive type name ("long", "timestamp") or a
// nested type object ({"type": "list", "element-id": 5, "element": "double", ...}), kept as the
// metadata file has it so that nested field ids survive an update.
type Field struct {
	ID       int32       `json:"id"`
	Name     string      `json:"name"`
	Required bool        `json:"required"`
	Type     interface{} `json:"type"`
}

func (m *Metadata) currentSchema() (Schema, error) {
	for _, s := range m.Schemas {
		if s.SchemaID == m.CurrentSchemaID {
			return s, nil
		}
	}
	return Schema{}, fmt.Errorf("metadata has no schema %d (current-schema-id)", m.CurrentSchemaID)
}

func (m *Metadata) maxSchemaID() int32 {
	var max int32
	for _, s := range m.Schemas {
		if s.SchemaID > max {
			max = s.SchemaID
		}
	}
	return max
}

// icebergType is the Iceberg type of a Hive type as Glue writes Iceberg columns: bigint is long,
// array<t> a list whose element gets the next field id from *lastID.
func icebergType(hive string, lastID *int32) (interface{}, error) {
	h := strings.ToLower(strings.TrimSpace(hive))
	switch h {
	case "bigint":
		return "long", nil
	case "int", "integer":
		return "int", nil
	case "string", "varchar", "char":
		return "string", nil
	case "double", "float", "boolean", "date", "timestamp", "binary":
		return h, nil
	}
	if strings.HasPrefix(h, "decimal(") && strings.HasSuffix(h, ")") {
		return h, nil
	}
	if inner, ok := strings.CutPrefix(h, "array<"); ok && strings.HasSuffix(inner, ">") {
		elem, err := icebergType(strings.TrimSuffix(inner, ">"), lastID)
		if err != nil {
			return nil, err
		}
		*lastID++
		return map[string]interface{}{"type": "list", "element-id": float64(*lastID), "element": elem, "element-required": false}, nil
	}
	return nil, fmt.Errorf("type %q has no Iceberg mapping here (bigint, int, string, double, float, boolean, date, timestamp, binary, decimal(p,s), array<…>)", hive)
}

// hiveOf is the Hive type Glue shows for an Iceberg type (timestamp with or without zone is
// timestamp), so that a kept column is compared as Glue and the props write it.
func hiveOf(t interface{}) string {
	switch x := t.(type) {
	case string:
		switch x {
		case "long":
			return "bigint"
		case "timestamptz", "timestamp_ns", "timestamptz_ns":
			return "timestamp"
		case "uuid":
			return "string"
		}
		return x
	case map[string]interface{}:
		if x["type"] == "list" {
			return "array<" + hiveOf(x["element"]) + ">"
		}
	}
	b, _ := json.Marshal(stripIDs(t))
	return string(b)
}

// sameShape reports whether two Iceberg types are the same column type as Glue shows it.
func sameShape(a, b interface{}) bool { return hiveOf(a) == hiveOf(b) }

func stripIDs(t interface{}) interface{} {
	m, ok := t.(map[string]interface{})
	if !ok {
		return t
	}
	out := map[string]interface{}{}
	for k, v := range m {
		if strings.HasSuffix(k, "-id") {
			continue
		}
		if k == "element-required" || k == "value-required" {
			continue
		}
		out[k] = stripIDs(v)
	}
	return out
}

// promotable are the type changes Iceberg schema evolution allows for a kept column.
var promotable = map[[2]string]bool{{"int", "long"}: true, {"float", "double"}: true}

// Evolve maps the wanted columns onto the current schema: a column of the same name keeps its
// field (and nested) ids and its type, or a type Iceberg may promote it to; a new column gets
// the next field id after lastColumnID; a column not wanted is dropped. changed is false when
// the result is the current schema.
func Evolve(cur Schema, lastColumnID int32, want []Column) (next Schema, changed bool, err error) {
	byName := map[string]Field{}
	for _, f := range cur.Fields {
		byName[strings.ToLower(f.Name)] = f
	}
	next = Schema{SchemaID: cur.SchemaID, Type: "struct"}
	last := lastColumnID
	for _, c := range want {
		old, kept := byName[strings.ToLower(c.Name)]
		if kept {
			var scratch int32
			typ, err := icebergType(c.Type, &scratch)
			if err != nil {
				return Schema{}, false, fmt.Errorf("column %s: %w", c.Name, err)
			}
			switch {
			case sameShape(old.Type, typ):
				next.Fields = append(next.Fields, old)
			case promotable[[2]string{fmt.Sprint(old.Type), fmt.Sprint(typ)}]:
				old.Type = typ
				next.Fields = append(next.Fields, old)
			default:
				return Schema{}, false, fmt.Errorf("column %s: %s to %s is not a type change Iceberg allows; add a column with another name instead",
					c.Name, typeName(old.Type), typeName(typ))
			}
			continue
		}
		last++
		id := last
		typ, err := icebergType(c.Type, &last)
		if err != nil {
			return Schema{}, false, fmt.Errorf("column %s: %w", c.Name, err)
		}
		next.Fields = append(next.Fields, Field{ID: id, Name: c.Name, Type: typ})
	}
	return next, !reflect.DeepEqual(normalize(cur.Fields), normalize(next.Fields)), nil
}

// normalize makes fields comparable whatever number types their JSON decoding used.
func normalize(fs []Field) interface{} {
	b, _ := json.Marshal(fs)
	var v interface{}
	_ = json.Unmarshal(b, &v)
	return v
}

func typeName(t interface{}) string {
	if s, ok := t.(string); ok {
		return s
	}
	b, _ := json.Marshal(stripIDs(t))
	return string(b)
}
