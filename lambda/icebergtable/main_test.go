package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeCatalog answers the Glue JSON 1.1 calls and the S3 GetObject the handler makes, starting
// from recorded response shapes (testdata), with Glue's behaviour on Iceberg tables: CreateTable
// with OpenTableFormatInput writes the first metadata file; UpdateTable with
// UpdateOpenTableFormatInput writes the next one; a plain UpdateTable (TableInput, what
// AWS::Glue::Table sends) replaces the table's parameters, so the Iceberg ones are lost.
type fakeCatalog struct {
	mu      sync.Mutex
	tables  map[string]map[string]interface{} // "db/name" -> Table
	objects map[string][]byte                 // "bucket/key"
	calls   []string
	seq     int
}

func newFake(*testing.T) *fakeCatalog {
	return &fakeCatalog{tables: map[string]map[string]interface{}{}, objects: map[string][]byte{}}
}

// preload puts the recorded Iceberg table and its metadata file in the fake.
func (f *fakeCatalog) preload(t *testing.T) {
	raw, err := os.ReadFile("testdata/get-table-iceberg.json")
	require.NoError(t, err)
	var out struct{ Table map[string]interface{} }
	require.NoError(t, json.Unmarshal(raw, &out))
	f.tables["pinpipe_demo/demo_geo_table"] = out.Table
	meta, err := os.ReadFile("testdata/metadata-00000.json")
	require.NoError(t, err)
	f.objects[objectKey(out.Table["Parameters"].(map[string]interface{})["metadata_location"].(string))] = meta
}

func objectKey(loc string) string { return strings.TrimPrefix(loc, "s3://") }

func (f *fakeCatalog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	if target == "" { // S3, path style: GET /bucket/key
		f.calls = append(f.calls, "s3:"+r.Method)
		b, ok := f.objects[strings.TrimPrefix(r.URL.Path, "/")]
		if r.Method != http.MethodGet || !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	op := strings.TrimPrefix(target, "AWSGlue.")
	f.calls = append(f.calls, op)
	var in map[string]interface{}
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(typ, msg string) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
	}
	db, _ := in["DatabaseName"].(string)
	switch op {
	case "GetTable":
		tbl, ok := f.tables[db+"/"+in["Name"].(string)]
		if !ok {
			fail("EntityNotFoundException", "Table "+in["Name"].(string)+" not found.")
			return
		}
		json.NewEncoder(w).Encode(map[string]interface{}{"Table": tbl})
	case "CreateTable":
		ti := in["TableInput"].(map[string]interface{})
		key := db + "/" + ti["Name"].(string)
		if _, ok := f.tables[key]; ok {
			fail("AlreadyExistsException", "Table already exists.")
			return
		}
		tbl := map[string]interface{}{"Name": ti["Name"], "DatabaseName": db, "TableType": ti["TableType"],
			"StorageDescriptor": ti["StorageDescriptor"], "Parameters": map[string]interface{}{}, "CatalogId": "123456789012", "VersionId": "0"}
		if otf, ok := in["OpenTableFormatInput"].(map[string]interface{}); ok && otf["IcebergInput"] != nil {
			sd := ti["StorageDescriptor"].(map[string]interface{})
			var cols []Column
			for _, c := range sd["Columns"].([]interface{}) {
				cm := c.(map[string]interface{})
				cols = append(cols, Column{cm["Name"].(string), cm["Type"].(string)})
			}
			// Iceberg numbers top-level fields first, then nested ones.
			next, _, err := Evolve(Schema{Type: "struct"}, 0, cols)
			if err != nil {
				fail("InvalidInputException", err.Error())
				return
			}
			renumber(&next)
			meta := Metadata{FormatVersion: 2, Location: sd["Location"].(string), CurrentSchemaID: 0, Schemas: []Schema{next}, LastColumnID: maxID(next)}
			f.writeMetadata(tbl, meta)
		}
		f.tables[key] = tbl
		w.Write([]byte("{}"))
	case "UpdateTable":
		name, _ := in["Name"].(string)
		if ti, ok := in["TableInput"].(map[string]interface{}); ok && name == "" {
			name = ti["Name"].(string)
		}
		tbl, ok := f.tables[db+"/"+name]
		if !ok {
			fail("EntityNotFoundException", "Table not found.")
			return
		}
		if u, ok := in["UpdateOpenTableFormatInput"].(map[string]interface{}); ok {
			upd := u["UpdateIcebergInput"].(map[string]interface{})["UpdateIcebergTableInput"].(map[string]interface{})["Updates"].([]interface{})[0].(map[string]interface{})
			cur := tbl["Parameters"].(map[string]interface{})["metadata_location"].(string)
			var meta Metadata
			if err := json.Unmarshal(f.objects[objectKey(cur)], &meta); err != nil {
				fail("InternalServiceException", err.Error())
				return
			}
			raw, _ := json.Marshal(upd["Schema"])
			var s struct {
				SchemaID int32 `json:"SchemaId"`
				Fields   []struct {
					ID       int32 `json:"Id"`
					Name     string
					Required bool
					Type     interface{}
				}
			}
			_ = json.Unmarshal(raw, &s)
			next := Schema{SchemaID: s.SchemaID, Type: "struct"}
			for _, fl := range s.Fields {
				next.Fields = append(next.Fields, Field{ID: fl.ID, Name: fl.Name, Required: fl.Required, Type: fl.Type})
			}
			meta.Schemas = append(meta.Schemas, next)
			meta.CurrentSchemaID = next.SchemaID
			if m := maxID(next); m > meta.LastColumnID {
				meta.LastColumnID = m
			}
			tbl["Parameters"].(map[string]interface{})["previous_metadata_location"] = cur
			f.writeMetadata(tbl, meta)
		} else {
			// A plain update: the table becomes what TableInput says, parameters included.
			ti := in["TableInput"].(map[string]interface{})
			params, _ := ti["Parameters"].(map[string]interface{})
			if params == nil {
				params = map[string]interface{}{}
			}
			tbl["Parameters"], tbl["StorageDescriptor"], tbl["TableType"] = params, ti["StorageDescriptor"], ti["TableType"]
		}
		w.Write([]byte("{}"))
	case "DeleteTable":
		key := db + "/" + in["Name"].(string)
		if _, ok := f.tables[key]; !ok {
			fail("EntityNotFoundException", "Table not found.")
			return
		}
		delete(f.tables, key)
		w.Write([]byte("{}"))
	default:
		fail("UnknownOperationException", op)
	}
}

// writeMetadata stores meta as the table's next metadata file and points the table (parameters,
// columns with their iceberg.field.* parameters) at it, as Glue does.
func (f *fakeCatalog) writeMetadata(tbl map[string]interface{}, meta Metadata) {
	f.seq++
	loc := fmt.Sprintf("%s/metadata/%05d-0000aaaa-%04d.metadata.json", strings.TrimSuffix(meta.Location, "/"), f.seq, f.seq)
	b, _ := json.Marshal(meta)
	f.objects[objectKey(loc)] = b
	params := tbl["Parameters"].(map[string]interface{})
	params["table_type"], params["metadata_location"] = "ICEBERG", loc
	cur, _ := meta.currentSchema()
	var cols []interface{}
	for _, fl := range cur.Fields {
		cols = append(cols, map[string]interface{}{"Name": fl.Name, "Type": hiveOf(fl.Type), "Parameters": map[string]interface{}{
			"iceberg.field.current": "true", "iceberg.field.id": fmt.Sprint(fl.ID), "iceberg.field.optional": fmt.Sprint(!fl.Required)}})
	}
	sd, _ := tbl["StorageDescriptor"].(map[string]interface{})
	sd["Columns"] = cols
}

// renumber gives fields ids as Iceberg does for a new table: top-level fields 1..n, then nested.
func renumber(s *Schema) {
	next := int32(len(s.Fields))
	for i := range s.Fields {
		s.Fields[i].ID = int32(i + 1)
		if m, ok := s.Fields[i].Type.(map[string]interface{}); ok {
			next++
			m["element-id"] = float64(next)
		}
	}
}

func maxID(s Schema) int32 {
	var m int32
	for _, f := range s.Fields {
		if f.ID > m {
			m = f.ID
		}
		if t, ok := f.Type.(map[string]interface{}); ok {
			if id, ok := t["element-id"].(float64); ok && int32(id) > m {
				m = int32(id)
			}
		}
	}
	return m
}

// testHandler is the handler with real SDK clients talking to the fake.
func testHandler(t *testing.T, f *fakeCatalog) *handler {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	creds := credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	return &handler{
		glue: glue.New(glue.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds}),
		s3:   s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds, UsePathStyle: true}),
	}
}

// geoProps are the resource properties the streaming stack gives the geo table, with columns.
func geoProps(cols ...[2]string) map[string]interface{} {
	var cs []interface{}
	for _, c := range cols {
		cs = append(cs, map[string]interface{}{"Name": c[0], "Type": c[1]})
	}
	return map[string]interface{}{
		"CatalogId": "123456789012", "DatabaseName": "pinpipe_demo",
		"TableInput": map[string]interface{}{
			"Name": "demo_geo_table", "Description": "Cleaned records of Kinesis stream streaming-demo-geo",
			"StorageDescriptor": map[string]interface{}{
				"Location": "s3://pinpipe-demo-results-123456789012-us-east-1/iceberg/pinpipe_demo.db/demo_geo_table/",
				"Columns":  cs,
			},
		},
		"OpenTableFormatInput": map[string]interface{}{"IcebergInput": map[string]interface{}{"MetadataOperation": "CREATE", "Version": "2"}},
		"RetainOnDelete":       "true",
	}
}

var geoColumns = [][2]string{{"ind", "bigint"}, {"country", "string"}, {"coordinates", "array<double>"}, {"timestamp", "timestamp"}}

func event(typ cfn.RequestType, props map[string]interface{}) cfn.Event {
	return cfn.Event{RequestType: typ, ResourceType: "Custom::IcebergTable", LogicalResourceID: "CleanGeoTable",
		PhysicalResourceID: "pinpipe_demo/demo_geo_table", ResourceProperties: props}
}

func (f *fakeCatalog) table(t *testing.T) map[string]interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	tbl := f.tables["pinpipe_demo/demo_geo_table"]
	require.NotNil(t, tbl)
	return tbl
}

func (f *fakeCatalog) metadata(t *testing.T) Metadata {
	f.mu.Lock()
	defer f.mu.Unlock()
	loc := f.tables["pinpipe_demo/demo_geo_table"]["Parameters"].(map[string]interface{})["metadata_location"].(string)
	var m Metadata
	require.NoError(t, json.Unmarshal(f.objects[objectKey(loc)], &m))
	return m
}

// A column change keeps the table Iceberg (issue 9, finding 7): after the update the table is
// still table_type ICEBERG with a new metadata file whose current schema has the new column
// under a new field id, the kept columns under their old ids (nested ids too), and the dropped
// one gone.
func TestColumnChangeKeepsTableIceberg(t *testing.T) {
	f := newFake(t)
	f.preload(t)
	before := f.table(t)["Parameters"].(map[string]interface{})["metadata_location"].(string)
	h := testHandler(t, f)

	cols := [][2]string{{"ind", "bigint"}, {"coordinates", "array<double>"}, {"timestamp", "timestamp"}, {"region", "string"}}
	id, data, err := h.handle(context.Background(), event(cfn.RequestUpdate, geoProps(cols...)))
	require.NoError(t, err)
	assert.Equal(t, "pinpipe_demo/demo_geo_table", id)
	assert.Equal(t, "demo_geo_table", data["TableName"])

	params := f.table(t)["Parameters"].(map[string]interface{})
	assert.Equal(t, "ICEBERG", params["table_type"])
	assert.NotEqual(t, before, params["metadata_location"], "a new metadata file")
	assert.Equal(t, before, params["previous_metadata_location"])
	meta := f.metadata(t)
	cur, err := meta.currentSchema()
	require.NoError(t, err)
	assert.Equal(t, int32(1), cur.SchemaID)
	got := map[string]int32{}
	for _, fl := range cur.Fields {
		got[fl.Name] = fl.ID
	}
	assert.Equal(t, map[string]int32{"ind": 1, "coordinates": 3, "timestamp": 4, "region": 6}, got)
	assert.Equal(t, float64(5), cur.Fields[1].Type.(map[string]interface{})["element-id"], "the list's element keeps its id")
	assert.Equal(t, int32(6), meta.LastColumnID)
	assert.Contains(t, f.calls, "UpdateTable")

	// The same columns again: nothing to do, no new metadata file.
	calls := len(f.calls)
	_, _, err = h.handle(context.Background(), event(cfn.RequestUpdate, geoProps(cols...)))
	require.NoError(t, err)
	assert.NotContains(t, f.calls[calls:], "UpdateTable")
}

// The fault the handler avoids, as the fake reproduces it: a plain UpdateTable of the columns
// (what CloudFormation does for AWS::Glue::Table) strips table_type and metadata_location.
func TestPlainUpdateStripsIceberg(t *testing.T) {
	f := newFake(t)
	f.preload(t)
	h := testHandler(t, f)
	_, err := h.glue.UpdateTable(context.Background(), &glue.UpdateTableInput{
		DatabaseName: aws.String("pinpipe_demo"),
		TableInput: &types.TableInput{Name: aws.String("demo_geo_table"), TableType: aws.String("EXTERNAL_TABLE"),
			StorageDescriptor: &types.StorageDescriptor{Columns: []types.Column{{Name: aws.String("ind"), Type: aws.String("bigint")}},
				Location: aws.String("s3://pinpipe-demo-results-123456789012-us-east-1/iceberg/pinpipe_demo.db/demo_geo_table/")}},
	})
	require.NoError(t, err)
	params := f.table(t)["Parameters"].(map[string]interface{})
	assert.Nil(t, params["table_type"])
	assert.Nil(t, params["metadata_location"])
	// And the handler refuses to touch what is no longer an Iceberg table.
	_, _, err = h.handle(context.Background(), event(cfn.RequestUpdate, geoProps(geoColumns...)))
	assert.ErrorContains(t, err, "not an Iceberg table")
}

// Create makes an Iceberg table (Glue writes the first metadata file); delete keeps it unless
// RetainOnDelete is off.
func TestCreateAndDelete(t *testing.T) {
	f := newFake(t)
	h := testHandler(t, f)
	_, _, err := h.handle(context.Background(), event(cfn.RequestCreate, geoProps(geoColumns...)))
	require.NoError(t, err)
	assert.Equal(t, "ICEBERG", f.table(t)["Parameters"].(map[string]interface{})["table_type"])
	cur, err := func() (Schema, error) { m := f.metadata(t); return m.currentSchema() }()
	require.NoError(t, err)
	require.Len(t, cur.Fields, 4)
	assert.Equal(t, "long", cur.Fields[0].Type)

	// A create over a table kept by an earlier stack adopts it.
	_, _, err = h.handle(context.Background(), event(cfn.RequestCreate, geoProps(geoColumns...)))
	require.NoError(t, err)

	_, _, err = h.handle(context.Background(), event(cfn.RequestDelete, geoProps(geoColumns...)))
	require.NoError(t, err)
	assert.NotContains(t, f.calls, "DeleteTable", "retained")
	p := geoProps(geoColumns...)
	p["RetainOnDelete"] = "false"
	_, _, err = h.handle(context.Background(), event(cfn.RequestDelete, p))
	require.NoError(t, err)
	assert.Contains(t, f.calls, "DeleteTable")
	_, _, err = h.handle(context.Background(), event(cfn.RequestDelete, p))
	require.NoError(t, err, "already gone is fine")
}

// A type change Iceberg does not allow is refused before anything is written; a promotion is
// allowed.
func TestTypeChanges(t *testing.T) {
	f := newFake(t)
	f.preload(t)
	h := testHandler(t, f)
	_, _, err := h.handle(context.Background(), event(cfn.RequestUpdate, geoProps(
		[2]string{"ind", "string"}, [2]string{"country", "string"}, [2]string{"coordinates", "array<double>"}, [2]string{"timestamp", "timestamp"})))
	assert.ErrorContains(t, err, "column ind: long to string is not a type change Iceberg allows")
	assert.NotContains(t, f.calls, "UpdateTable")

	cur := Schema{SchemaID: 0, Type: "struct", Fields: []Field{{ID: 1, Name: "n", Type: "int"}, {ID: 2, Name: "x", Type: "float"}}}
	next, changed, err := Evolve(cur, 2, []Column{{"n", "bigint"}, {"x", "double"}})
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "long", next.Fields[0].Type)
	assert.Equal(t, "double", next.Fields[1].Type)
	_, _, err = Evolve(cur, 2, []Column{{"n", "map<string,string>"}})
	assert.Error(t, err)
}

func TestBadProperties(t *testing.T) {
	h := testHandler(t, newFake(t))
	for _, mut := range []func(map[string]interface{}){
		func(p map[string]interface{}) { p["DatabaseName"] = "" },
		func(p map[string]interface{}) { p["TableInput"].(map[string]interface{})["Name"] = "" },
		func(p map[string]interface{}) {
			p["TableInput"].(map[string]interface{})["StorageDescriptor"].(map[string]interface{})["Location"] = "/tmp/x"
		},
		func(p map[string]interface{}) {
			p["TableInput"].(map[string]interface{})["StorageDescriptor"].(map[string]interface{})["Columns"] = []interface{}{}
		},
		func(p map[string]interface{}) {
			p["TableInput"].(map[string]interface{})["StorageDescriptor"].(map[string]interface{})["Columns"] = []interface{}{
				map[string]interface{}{"Name": "a", "Type": "bigint"}, map[string]interface{}{"Name": "A", "Type": "bigint"}}
		},
	} {
		p := geoProps(geoColumns...)
		mut(p)
		_, _, err := h.handle(context.Background(), event(cfn.RequestCreate, p))
		assert.Error(t, err)
	}
}
