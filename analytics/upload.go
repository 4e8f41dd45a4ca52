package analytics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// upload copies the files (relative to dir) to the bucket under prefix, a few at a time.
func upload(ctx context.Context, client *s3.Client, dir, bucket, prefix string, files []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, rel := range files {
		g.Go(func() error {
			f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				return err
			}
			defer f.Close()
			key := prefix + rel
			in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: f, ContentType: contentType(rel)}
			if _, err := client.PutObject(ctx, in); err != nil {
				return fmt.Errorf("uploading s3://%s/%s: %w", bucket, key, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func contentType(name string) *string {
	t := "application/octet-stream"
	switch {
	case strings.HasSuffix(name, ".html"):
		t = "text/html; charset=utf-8"
	case strings.HasSuffix(name, ".csv"):
		t = "text/csv; charset=utf-8"
	case strings.HasSuffix(name, ".json"):
		t = "application/json"
	case strings.HasSuffix(name, ".jsonl"):
		t = "application/x-ndjson"
	}
	return &t
}
