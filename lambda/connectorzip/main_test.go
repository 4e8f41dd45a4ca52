package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// memStore stands in for S3 (the AWS edge): it keeps what PutObject sent.
type memStore struct{ objects map[string][]byte }

func (m *memStore) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	m.objects[*in.Bucket+"/"+*in.Key] = b
	return &s3.PutObjectOutput{VersionId: aws.String("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")}, nil
}

func (m *memStore) DeleteObject(_ context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	delete(m.objects, *in.Bucket+"/"+*in.Key)
	return &s3.DeleteObjectOutput{}, nil
}

func connectorZip(t *testing.T, withJar bool) []byte {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	name := "confluentinc-kafka-connect-s3-10.0.3/manifest.json"
	if withJar {
		name = "confluentinc-kafka-connect-s3-10.0.3/lib/kafka-connect-s3-10.0.3.jar"
	}
	w, err := z.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("content"))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHandle(t *testing.T) {
	good := connectorZip(t, true)
	sum := sha256.Sum256(good)
	goodSum := hex.EncodeToString(sum[:])
	files := map[string][]byte{"/good.zip": good, "/nojar.zip": connectorZip(t, false), "/text.zip": []byte("<html>not found</html>")}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()

	store := &memStore{objects: map[string][]byte{}}
	h := &handler{s3: store, http: srv.Client(), tmp: t.TempDir()}
	props := func(path, sha string) map[string]interface{} {
		p := map[string]interface{}{"Url": srv.URL + path, "Sha256": sha, "Bucket": "sink", "Key": "plugins/s3.zip"}
		if sha == "" {
			p["Unpinned"] = "true"
		}
		return p
	}
	ctx := context.Background()

	for _, sha := range []string{"", goodSum, strings.ToUpper(goodSum)} {
		id, data, err := h.handle(ctx, cfn.Event{RequestType: cfn.RequestCreate, ResourceProperties: props("/good.zip", sha)})
		if err != nil {
			t.Fatalf("sha %q: %v", sha, err)
		}
		if id != "s3://sink/plugins/s3.zip" || data["Sha256"] != goodSum || data["Size"] != int64(len(good)) || data["Jars"] != 1 {
			t.Errorf("sha %q: id %s data %v", sha, id, data)
		}
		if !bytes.Equal(store.objects["sink/plugins/s3.zip"], good) {
			t.Errorf("uploaded object differs from the download")
		}
	}

	for _, tc := range []struct {
		path, sha, wantErr string
	}{
		{"/good.zip", strings.Repeat("0", 64), "SHA-256 is " + goodSum},
		{"/nojar.zip", "", "holds no .jar"},
		{"/text.zip", "", "not a zip"},
		{"/missing.zip", "", "HTTP 404"},
	} {
		_, _, err := h.handle(ctx, cfn.Event{RequestType: cfn.RequestUpdate, ResourceProperties: props(tc.path, tc.sha)})
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want %q", tc.path, err, tc.wantErr)
		}
	}

	for _, bad := range []map[string]interface{}{
		{"Url": "http://insecure/x.zip", "Bucket": "b", "Key": "k"},
		{"Url": "https://x/x.zip", "Key": "k"},
		{"Url": "https://x/x.zip", "Bucket": "b", "Key": "/abs"},
		{"Url": "https://x/x.zip", "Bucket": "b", "Key": "k", "Sha256": "xyz"},
		// No digest and no explicit opt-out: refused before anything is downloaded.
		{"Url": srv.URL + "/good.zip", "Bucket": "b", "Key": "k"},
		{"Url": srv.URL + "/good.zip", "Bucket": "b", "Key": "k", "Unpinned": "false"},
	} {
		if _, _, err := h.handle(ctx, cfn.Event{RequestType: cfn.RequestCreate, ResourceProperties: bad}); err == nil || !strings.Contains(err.Error(), "property ") {
			t.Errorf("%v: error %v, want one naming the property", bad, err)
		}
	}

	id, _, err := h.handle(ctx, cfn.Event{RequestType: cfn.RequestDelete, PhysicalResourceID: "s3://sink/plugins/s3.zip"})
	if err != nil || id != "s3://sink/plugins/s3.zip" || len(store.objects) != 0 {
		t.Errorf("delete: id %s err %v objects %v", id, err, store.objects)
	}
	// A resource whose create failed has a physical id that is no object: delete is a no-op.
	if _, _, err := h.handle(ctx, cfn.Event{RequestType: cfn.RequestDelete, PhysicalResourceID: "pinpipe-failed-create"}); err != nil {
		t.Errorf("delete after failed create: %v", err)
	}
}
