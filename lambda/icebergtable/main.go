// Command icebergtable is the CloudFormation custom resource that creates an Apache Iceberg table
// in the Glue Data Catalog and changes its columns as Iceberg schema evolution, keeping the
// table Iceberg.
//
// Why not AWS::Glue::Table: CloudFormation creates an Iceberg table through it, but any later
// change to it is a plain Glue UpdateTable that replaces the table's parameters, and the table
// loses table_type=ICEBERG and metadata_location: Firehose and Athena can no longer use it
// (cloudformation-coverage-roadmap #1919, #2495). A Glue column change alone would not change the
// Iceberg schema either, which lives in the table's metadata file.
//
// Create: CreateTable with OpenTableFormatInput (Iceberg, metadata operation CREATE), which writes
// the first metadata file; an Iceberg table of that name that already exists (kept by an earlier
// stack) is adopted and evolved. Update: the current schema is read from the table's metadata
// file (metadata_location), the wanted columns are mapped onto it (a kept column keeps its field
// id, a new column gets the next one, a dropped column goes, int→bigint and float→double are
// promoted, any other type change is refused), and UpdateTable applies it as an Iceberg update
// (UpdateOpenTableFormatInput), which writes the next metadata file. Afterwards the table must
// still be Iceberg with a new metadata_location, or the update fails and CloudFormation rolls
// back. Delete: DeleteTable, unless RetainOnDelete is "true" (the data files stay either way).
//
// Resource properties, as AWS::Glue::Table's: CatalogId, DatabaseName, TableInput (Name,
// Description, StorageDescriptor.Location, StorageDescriptor.Columns of Name and Hive Type),
// OpenTableFormatInput.IcebergInput.Version; and RetainOnDelete.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/document"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		panic(fmt.Sprintf("icebergtable: AWS config: %v", err))
	}
	h := &handler{glue: glue.NewFromConfig(cfg), s3: s3.NewFromConfig(cfg)}
	lambda.Start(cfn.LambdaWrap(h.handle))
}

// catalog is the part of the Glue client the handler uses.
type catalog interface {
	GetTable(context.Context, *glue.GetTableInput, ...func(*glue.Options)) (*glue.GetTableOutput, error)
	CreateTable(context.Context, *glue.CreateTableInput, ...func(*glue.Options)) (*glue.CreateTableOutput, error)
	UpdateTable(context.Context, *glue.UpdateTableInput, ...func(*glue.Options)) (*glue.UpdateTableOutput, error)
	DeleteTable(context.Context, *glue.DeleteTableInput, ...func(*glue.Options)) (*glue.DeleteTableOutput, error)
}

// objects is the part of the S3 client the handler uses: it reads the table's metadata file.
type objects interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

type handler struct {
	glue catalog
	s3   objects
}

// Column is a table column with its Hive type, as Glue and AWS::Glue::Table write them.
type Column struct{ Name, Type string }

// props are the resource properties.
type props struct {
	CatalogID    string `json:"CatalogId"`
	DatabaseName string
	TableInput   struct {
		Name              string
		Description       string
		StorageDescriptor struct {
			Location string
			Columns  []Column
		}
	}
	OpenTableFormatInput struct {
		IcebergInput struct{ Version string }
	}
	RetainOnDelete string
}

func parseProps(m map[string]interface{}) (props, error) {
	var p props
	b, err := json.Marshal(m)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("resource properties: %w", err)
	}
	switch {
	case p.DatabaseName == "":
		return p, errors.New("property DatabaseName: required")
	case p.TableInput.Name == "":
		return p, errors.New("property TableInput.Name: required")
	case !strings.HasPrefix(p.TableInput.StorageDescriptor.Location, "s3://"):
		return p, fmt.Errorf("property TableInput.StorageDescriptor.Location: want an s3:// location, got %q", p.TableInput.StorageDescriptor.Location)
	case len(p.TableInput.StorageDescriptor.Columns) == 0:
		return p, errors.New("property TableInput.StorageDescriptor.Columns: at least one column is required")
	}
	seen := map[string]bool{}
	for i, c := range p.TableInput.StorageDescriptor.Columns {
		if _, err := icebergType(c.Type, new(int32)); err != nil || c.Name == "" {
			return p, fmt.Errorf("property TableInput.StorageDescriptor.Columns[%d] %q: %v", i, c.Name, err)
		}
		if seen[strings.ToLower(c.Name)] {
			return p, fmt.Errorf("property TableInput.StorageDescriptor.Columns: %q twice", c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
	}
	if p.OpenTableFormatInput.IcebergInput.Version == "" {
		p.OpenTableFormatInput.IcebergInput.Version = "2"
	}
	return p, nil
}

// physicalID is the table's id: <database>/<table>.
func (p props) physicalID() string { return p.DatabaseName + "/" + p.TableInput.Name }

func (p props) catalogID() *string {
	if p.CatalogID == "" {
		return nil
	}
	return aws.String(p.CatalogID)
}

func (h *handler) handle(ctx context.Context, ev cfn.Event) (string, map[string]interface{}, error) {
	p, err := parseProps(ev.ResourceProperties)
	if err != nil {
		if ev.RequestType == cfn.RequestDelete {
			return ev.PhysicalResourceID, nil, nil // nothing this handler could have made
		}
		return "", nil, err
	}
	switch ev.RequestType {
	case cfn.RequestDelete:
		if p.RetainOnDelete == "true" || ev.PhysicalResourceID != p.physicalID() {
			return ev.PhysicalResourceID, nil, nil
		}
		_, err := h.glue.DeleteTable(ctx, &glue.DeleteTableInput{CatalogId: p.catalogID(), DatabaseName: aws.String(p.DatabaseName), Name: aws.String(p.TableInput.Name)})
		var nf *types.EntityNotFoundException
		if err != nil && !errors.As(err, &nf) {
			return "", nil, fmt.Errorf("delete table %s: %w", p.physicalID(), err)
		}
		return ev.PhysicalResourceID, nil, nil
	default:
		// Create, or update (a new name is a new table: CloudFormation deletes the old id after).
		if err := h.ensure(ctx, p); err != nil {
			return "", nil, err
		}
		return p.physicalID(), map[string]interface{}{"DatabaseName": p.DatabaseName, "TableName": p.TableInput.Name}, nil
	}
}

// ensure makes the table exist as an Iceberg table with the wanted columns.
func (h *handler) ensure(ctx context.Context, p props) error {
	current, err := h.get(ctx, p)
	if err != nil {
		return err
	}
	if current == nil {
		return h.create(ctx, p)
	}
	return h.evolve(ctx, p, current)
}

// get is the table, or nil when there is none.
func (h *handler) get(ctx context.Context, p props) (*types.Table, error) {
	out, err := h.glue.GetTable(ctx, &glue.GetTableInput{CatalogId: p.catalogID(), DatabaseName: aws.String(p.DatabaseName), Name: aws.String(p.TableInput.Name)})
	var nf *types.EntityNotFoundException
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get table %s: %w", p.physicalID(), err)
	}
	return out.Table, nil
}

func (h *handler) create(ctx context.Context, p props) error {
	cols := make([]types.Column, len(p.TableInput.StorageDescriptor.Columns))
	for i, c := range p.TableInput.StorageDescriptor.Columns {
		cols[i] = types.Column{Name: aws.String(c.Name), Type: aws.String(c.Type)}
	}
	in := &glue.CreateTableInput{
		CatalogId:    p.catalogID(),
		DatabaseName: aws.String(p.DatabaseName),
		OpenTableFormatInput: &types.OpenTableFormatInput{IcebergInput: &types.IcebergInput{
			MetadataOperation: types.MetadataOperationCreate,
			Version:           aws.String(p.OpenTableFormatInput.IcebergInput.Version),
		}},
		TableInput: &types.TableInput{
			Name:              aws.String(p.TableInput.Name),
			TableType:         aws.String("EXTERNAL_TABLE"),
			StorageDescriptor: &types.StorageDescriptor{Columns: cols, Location: aws.String(p.TableInput.StorageDescriptor.Location)},
		},
	}
	if p.TableInput.Description != "" {
		in.TableInput.Description = aws.String(p.TableInput.Description)
	}
	if _, err := h.glue.CreateTable(ctx, in); err != nil {
		return fmt.Errorf("create Iceberg table %s: %w", p.physicalID(), err)
	}
	t, err := h.get(ctx, p)
	if err != nil {
		return err
	}
	if t == nil {
		return fmt.Errorf("create Iceberg table %s: Glue reports no table after creating it", p.physicalID())
	}
	_, err = icebergParams(t)
	return err
}

// icebergParams checks that t is an Iceberg table and returns its metadata location.
func icebergParams(t *types.Table) (string, error) {
	name := aws.ToString(t.DatabaseName) + "/" + aws.ToString(t.Name)
	if !strings.EqualFold(t.Parameters["table_type"], "ICEBERG") {
		return "", fmt.Errorf("table %s is not an Iceberg table (table_type %q): refusing to change it", name, t.Parameters["table_type"])
	}
	loc := t.Parameters["metadata_location"]
	if loc == "" {
		return "", fmt.Errorf("table %s is Iceberg but has no metadata_location", name)
	}
	return loc, nil
}

// evolve changes the columns of the Iceberg table t to the wanted ones, as a schema update.
func (h *handler) evolve(ctx context.Context, p props, t *types.Table) error {
	metaLoc, err := icebergParams(t)
	if err != nil {
		return err
	}
	meta, err := h.readMetadata(ctx, metaLoc)
	if err != nil {
		return fmt.Errorf("table %s: %w", p.physicalID(), err)
	}
	cur, err := meta.currentSchema()
	if err != nil {
		return fmt.Errorf("table %s: %w", p.physicalID(), err)
	}
	next, changed, err := Evolve(cur, meta.LastColumnID, p.TableInput.StorageDescriptor.Columns)
	if err != nil {
		return fmt.Errorf("table %s: %w", p.physicalID(), err)
	}
	if !changed {
		return nil
	}
	next.SchemaID = meta.maxSchemaID() + 1
	fields := make([]types.IcebergStructField, len(next.Fields))
	for i, f := range next.Fields {
		fields[i] = types.IcebergStructField{Id: f.ID, Name: aws.String(f.Name), Required: f.Required, Type: document.NewLazyDocument(f.Type)}
	}
	location := meta.Location
	if location == "" {
		location = p.TableInput.StorageDescriptor.Location
	}
	_, err = h.glue.UpdateTable(ctx, &glue.UpdateTableInput{
		CatalogId:    p.catalogID(),
		DatabaseName: aws.String(p.DatabaseName),
		Name:         aws.String(p.TableInput.Name),
		UpdateOpenTableFormatInput: &types.UpdateOpenTableFormatInput{UpdateIcebergInput: &types.UpdateIcebergInput{
			UpdateIcebergTableInput: &types.UpdateIcebergTableInput{Updates: []types.IcebergTableUpdate{{
				Location: aws.String(location),
				Schema: &types.IcebergSchema{
					SchemaId: next.SchemaID,
					Type:     types.IcebergStructTypeEnumStruct,
					Fields:   fields,
				},
			}}},
		}},
	})
	if err != nil {
		return fmt.Errorf("update Iceberg schema of %s: %w", p.physicalID(), err)
	}
	after, err := h.get(ctx, p)
	if err != nil {
		return err
	}
	if after == nil {
		return fmt.Errorf("update Iceberg schema of %s: the table is gone", p.physicalID())
	}
	newLoc, err := icebergParams(after)
	if err != nil {
		return fmt.Errorf("after the schema update: %w", err)
	}
	if newLoc == metaLoc {
		return fmt.Errorf("update Iceberg schema of %s: Glue accepted it but wrote no new metadata file (still %s)", p.physicalID(), metaLoc)
	}
	return nil
}

// readMetadata reads the Iceberg metadata file at an s3:// location.
func (h *handler) readMetadata(ctx context.Context, loc string) (*Metadata, error) {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "s3" && u.Scheme != "s3a") || u.Host == "" {
		return nil, fmt.Errorf("metadata_location %q is not an s3:// location", loc)
	}
	out, err := h.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.Host), Key: aws.String(strings.TrimPrefix(u.Path, "/"))})
	if err != nil {
		return nil, fmt.Errorf("read metadata %s: %w", loc, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read metadata %s: %w", loc, err)
	}
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", loc, err)
	}
	return &m, nil
}
