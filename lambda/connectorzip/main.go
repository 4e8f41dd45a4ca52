// Command connectorzip is the CloudFormation custom resource that places the Confluent S3 sink
// connector zip in a bucket for an MSK Connect custom plugin: it downloads a pinned version over
// HTTPS, checks its SHA-256 before anything else reads it, checks that it is a connector archive
// (a zip holding jars), uploads it, and reports the digest, size and object version it saw, so the
// stack's outputs say exactly which bytes the plugin runs. On delete it removes the object.
//
// Resource properties: Url, Sha256 (hex), Bucket, Key, and Unpinned ("true" to accept a zip
// without a Sha256: the stack sets it only for a version no published checksum is known for, or
// when the user opted out with allowUnpinnedDownloads). Without Sha256 and Unpinned it refuses.
package main

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxZipBytes bounds the download: the connector is tens of MiB; /tmp holds 512 MiB.
const maxZipBytes = 400 << 20

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		panic(fmt.Sprintf("connectorzip: AWS config: %v", err))
	}
	h := &handler{s3: s3.NewFromConfig(cfg), http: &http.Client{Timeout: 4 * time.Minute}, tmp: os.TempDir()}
	lambda.Start(cfn.LambdaWrap(h.handle))
}

// objectStore is the part of the S3 client the handler uses.
type objectStore interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

type handler struct {
	s3   objectStore
	http *http.Client
	tmp  string
}

// props are the resource properties.
type props struct {
	URL, Sha256, Bucket, Key string
	Unpinned                 bool
}

func parseProps(m map[string]interface{}) (props, error) {
	get := func(k string) string { s, _ := m[k].(string); return strings.TrimSpace(s) }
	p := props{URL: get("Url"), Sha256: strings.ToLower(get("Sha256")), Bucket: get("Bucket"), Key: get("Key"),
		Unpinned: get("Unpinned") == "true"}
	switch {
	case !strings.HasPrefix(p.URL, "https://"):
		return p, fmt.Errorf("property Url: want an https:// URL, got %q", p.URL)
	case p.Bucket == "":
		return p, errors.New("property Bucket: required")
	case p.Key == "" || strings.HasPrefix(p.Key, "/"):
		return p, fmt.Errorf("property Key: want an object key, got %q", p.Key)
	}
	if p.Sha256 != "" {
		if b, err := hex.DecodeString(p.Sha256); err != nil || len(b) != sha256.Size {
			return p, fmt.Errorf("property Sha256: want 64 hex digits, got %q", p.Sha256)
		}
	} else if !p.Unpinned {
		return p, errors.New(`property Sha256: required (the connector zip runs in MSK Connect; "Unpinned": "true" accepts any zip)`)
	}
	return p, nil
}

func (h *handler) handle(ctx context.Context, ev cfn.Event) (string, map[string]interface{}, error) {
	if ev.RequestType == cfn.RequestDelete {
		bucket, key, ok := strings.Cut(strings.TrimPrefix(ev.PhysicalResourceID, "s3://"), "/")
		if !ok || !strings.HasPrefix(ev.PhysicalResourceID, "s3://") {
			// Create failed before an object existed: nothing to remove.
			return ev.PhysicalResourceID, nil, nil
		}
		if _, err := h.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
			return ev.PhysicalResourceID, nil, fmt.Errorf("delete s3://%s/%s: %w", bucket, key, err)
		}
		return ev.PhysicalResourceID, nil, nil
	}
	p, err := parseProps(ev.ResourceProperties)
	if err != nil {
		return "", nil, err
	}
	seen, err := h.fetch(ctx, p)
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(seen.path)
	f, err := os.Open(seen.path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	out, err := h.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &p.Bucket,
		Key:           &p.Key,
		Body:          f,
		ContentLength: aws.Int64(seen.size),
		ContentType:   aws.String("application/zip"),
		Metadata:      map[string]string{"sha256": seen.sha256, "source": p.URL},
	})
	if err != nil {
		return "", nil, fmt.Errorf("upload to s3://%s/%s: %w", p.Bucket, p.Key, err)
	}
	data := map[string]interface{}{
		"Bucket": p.Bucket, "Key": p.Key, "Sha256": seen.sha256, "Size": seen.size, "Url": p.URL,
		"Jars": seen.jars, "VersionId": aws.ToString(out.VersionId),
	}
	return "s3://" + p.Bucket + "/" + p.Key, data, nil
}

// download is what fetch saw.
type download struct {
	path   string
	sha256 string
	size   int64
	jars   int
}

// fetch downloads p.URL to a temporary file, hashing it on the way, and checks the digest and
// that the file is a zip holding at least one jar. Errors say what was seen.
func (h *handler) fetch(ctx context.Context, p props) (download, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return download{}, fmt.Errorf("property Url: %w", err)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return download{}, fmt.Errorf("download %s: %w", p.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return download{}, fmt.Errorf("download %s: HTTP %s", p.URL, resp.Status)
	}
	f, err := os.CreateTemp(h.tmp, "connector-*.zip")
	if err != nil {
		return download{}, err
	}
	d := download{path: f.Name()}
	ok := false
	defer func() {
		if !ok {
			os.Remove(d.path)
		}
	}()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), io.LimitReader(resp.Body, maxZipBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return d, fmt.Errorf("download %s: %w", p.URL, err)
	}
	if n > maxZipBytes {
		return d, fmt.Errorf("download %s: larger than %d bytes", p.URL, maxZipBytes)
	}
	d.size, d.sha256 = n, hex.EncodeToString(sum.Sum(nil))
	if p.Sha256 != "" && d.sha256 != p.Sha256 {
		return d, fmt.Errorf("download %s: SHA-256 is %s (%d bytes), configured %s", p.URL, d.sha256, n, p.Sha256)
	}
	z, err := zip.OpenReader(d.path)
	if err != nil {
		return d, fmt.Errorf("download %s (SHA-256 %s): not a zip: %w", p.URL, d.sha256, err)
	}
	for _, e := range z.File {
		if strings.HasSuffix(e.Name, ".jar") {
			d.jars++
		}
	}
	z.Close()
	if d.jars == 0 {
		return d, fmt.Errorf("download %s (SHA-256 %s): the zip holds no .jar, so it is not a connector", p.URL, d.sha256)
	}
	ok = true
	return d, nil
}
