package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// source is where the sink's objects are: a local directory or an S3 prefix. Keys are relative
// to the source's root and use '/'.
type source interface {
	// String names the root for messages ("dir/", "s3://bucket/prefix/").
	String() string
	// list returns the keys under prefix (relative to the root), in any order.
	list(ctx context.Context, prefix string) ([]string, error)
	// read returns the content of one object, in buf's memory when it is large enough (the
	// batch job reuses a few buffers for thousands of objects).
	read(ctx context.Context, key string, buf []byte) ([]byte, error)
	// concurrency is how many reads may run at once.
	concurrency() int
	// sub is the same kind of source rooted at a sub-path.
	sub(dir string) source
}

// dirSource reads a local directory.
type dirSource struct{ root string }

func (d dirSource) String() string { return d.root }

func (d dirSource) concurrency() int { return 8 }

func (d dirSource) sub(dir string) source {
	return dirSource{filepath.Join(d.root, filepath.FromSlash(dir))}
}

func (d dirSource) list(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	base := filepath.Join(d.root, filepath.FromSlash(prefix))
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == base {
				return fs.SkipAll
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.Type().IsRegular() {
			rel, err := filepath.Rel(d.root, p)
			if err != nil {
				return err
			}
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", base, err)
	}
	return keys, nil
}

func (d dirSource) read(_ context.Context, key string, buf []byte) ([]byte, error) {
	f, err := os.Open(filepath.Join(d.root, filepath.FromSlash(key)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// One read of the known size; readAll goes on if the file grew meanwhile.
	return readAll(f, buf, int(st.Size()))
}

// readAll reads r to its end into buf (grown when needed), expecting about size bytes.
func readAll(r io.Reader, buf []byte, size int) ([]byte, error) {
	if cap(buf) < size+1 {
		buf = make([]byte, 0, size+1) // +1: the read that sees the end needs room
	}
	buf = buf[:0]
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// s3Source reads objects under a prefix of a bucket.
type s3Source struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
}

func (s s3Source) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// concurrency: the sink writes one object per record by default, so tens of thousands of tiny
// GETs are normal; they are latency-bound, not CPU-bound.
func (s s3Source) concurrency() int { return s3Concurrency }

const s3Concurrency = 64

func (s s3Source) sub(dir string) source {
	s.prefix = joinPrefix(s.prefix, dir)
	return s
}

func (s s3Source) list(ctx context.Context, prefix string) ([]string, error) {
	full := s.prefix + prefix
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", s.bucket, full, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if strings.HasSuffix(k, "/") {
				continue // a "folder" marker
			}
			keys = append(keys, strings.TrimPrefix(k, s.prefix))
		}
	}
	return keys, nil
}

func (s s3Source) read(ctx context.Context, key string, buf []byte) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	defer out.Body.Close()
	b, err := readAll(out.Body, buf, int(aws.ToInt64(out.ContentLength)))
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return b, nil
}

// joinPrefix appends dir to an S3 prefix, keeping the trailing '/'.
func joinPrefix(prefix, dir string) string {
	dir = strings.Trim(dir, "/")
	if dir == "" {
		return prefix
	}
	return prefix + dir + "/"
}

// parseS3URL splits s3://bucket/prefix into the bucket and a prefix that is "" or ends in '/'.
func parseS3URL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URL", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q: no bucket name (want s3://BUCKET/PREFIX)", u)
	}
	return bucket, joinPrefix("", prefix), nil
}

// isS3 reports whether a location is an s3:// URL.
func isS3(loc string) bool { return strings.HasPrefix(loc, "s3://") }

// newS3Client builds an S3 client from the default credential chain. AWS_ENDPOINT_URL_S3 (or
// AWS_ENDPOINT_URL) points it at another S3 implementation; such endpoints get path-style
// addressing, which they almost always need, and us-east-1 when no region is configured.
func newS3Client(ctx context.Context) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		// Objects the sink wrote carry no checksum; do not log that on every GET.
		o.DisableLogOutputChecksumValidationSkipped = true
		// Keep a connection per concurrent reader: with the SDK's default idle pool, most of the
		// tens of thousands of tiny GETs would open a new connection.
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 2 * s3Concurrency
			t.MaxIdleConnsPerHost = 2 * s3Concurrency
		})
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
			if o.Region == "" {
				o.Region = "us-east-1"
			}
		}
	}), nil
}

// openSource opens a directory or an s3:// URL.
func openSource(ctx context.Context, input string) (source, error) {
	if !isS3(input) {
		st, err := os.Stat(input)
		if err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("input %s: not a directory", input)
		}
		return dirSource{filepath.Clean(input)}, nil
	}
	bucket, prefix, err := parseS3URL(input)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	client, err := newS3Client(ctx)
	if err != nil {
		return nil, err
	}
	return s3Source{client: client, bucket: bucket, prefix: prefix}, nil
}

// parent of a source rooted at ".../topics" is its parent; ok is false when the root's last
// element is not "topics".
func topicsParent(src source) (source, bool) {
	switch s := src.(type) {
	case dirSource:
		if filepath.Base(s.root) == "topics" {
			return dirSource{filepath.Dir(s.root)}, true
		}
	case s3Source:
		p := strings.TrimSuffix(s.prefix, "/")
		if path.Base(p) == "topics" {
			s.prefix = joinPrefix("", path.Dir(p))
			if s.prefix == "./" {
				s.prefix = ""
			}
			return s, true
		}
	}
	return nil, false
}
