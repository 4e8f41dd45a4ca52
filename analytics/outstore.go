package analytics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// outStore is where a run's results go: a local directory or an S3 prefix. Files are written in
// dir() (for S3, a temporary directory) and made durable where they belong with publish. Paths are
// relative to the root and use '/'.
type outStore interface {
	String() string
	// dir is the local directory the run writes its files in.
	dir() string
	// list returns the files under prefix, in any order.
	list(ctx context.Context, prefix string) ([]string, error)
	// read returns a small file's content; an error wrapping fs.ErrNotExist when it is absent.
	read(ctx context.Context, rel string) ([]byte, error)
	// fetch makes files of the destination present in dir() (a no-op for a directory).
	fetch(ctx context.Context, rels []string) error
	// publish makes files written in dir() durable at the destination.
	publish(ctx context.Context, rels []string) error
	// commit writes one file atomically and durably: readers see the old content or the new,
	// never a part.
	commit(ctx context.Context, rel string, data []byte) error
	// remove deletes files; missing ones are not an error.
	remove(ctx context.Context, rels []string) error
	// close removes what the store kept locally.
	close()
}

// openOut opens --out. durable makes publish wait until the files are on disk (the incremental
// mode's state must never point at files a crash could lose).
func openOut(ctx context.Context, out string, durable bool) (outStore, error) {
	if !isS3(out) {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
		return &dirOut{root: out, durable: durable}, nil
	}
	bucket, prefix, err := parseS3URL(out)
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	client, err := newS3Client(ctx)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "pinpipe-analyse-")
	if err != nil {
		return nil, err
	}
	return &s3Out{client: client, bucket: bucket, prefix: prefix, url: out, tmp: tmp}, nil
}

// dirOut is a local output directory.
type dirOut struct {
	root    string
	durable bool
}

func (d *dirOut) String() string { return d.root }
func (d *dirOut) dir() string    { return d.root }
func (d *dirOut) close()         {}

func (d *dirOut) path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }

func (d *dirOut) list(ctx context.Context, prefix string) ([]string, error) {
	return dirSource{d.root}.list(ctx, prefix)
}

func (d *dirOut) read(_ context.Context, rel string) ([]byte, error) { return os.ReadFile(d.path(rel)) }

func (d *dirOut) fetch(context.Context, []string) error { return nil }

func (d *dirOut) publish(ctx context.Context, rels []string) error {
	if !d.durable {
		return nil
	}
	// The files the state names must be on disk before the state is; the outputs and the
	// report are rewritten by every run, so they need not wait for the disk.
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(8)
	dirs := map[string]bool{}
	for _, rel := range rels {
		if !under(rel, stateFolders...) {
			continue
		}
		g.Go(func() error {
			if err := syncPath(d.path(rel)); err != nil {
				return fmt.Errorf("writing %s: %w", rel, err)
			}
			return nil
		})
		// New folders must be on disk too: each folder from the file's up to the root.
		for dir := path.Dir(rel); ; dir = path.Dir(dir) {
			dirs[d.path(dir)] = true
			if dir == "." {
				break
			}
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for dir := range dirs {
		g.Go(func() error {
			if err := syncPath(dir); err != nil {
				return fmt.Errorf("writing %s: %w", dir, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (d *dirOut) commit(_ context.Context, rel string, data []byte) error {
	p := d.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	return syncPath(filepath.Dir(p))
}

func (d *dirOut) remove(_ context.Context, rels []string) error {
	for _, rel := range rels {
		if err := os.Remove(d.path(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if under(rel, "_state") && path.Dir(rel) != "_state" {
			os.Remove(d.path(path.Dir(rel))) // a run's folder, once empty (S3 has no folders)
		}
	}
	return nil
}

// syncPath flushes a file or a directory to disk.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// s3Out is an S3 prefix; files are written to a temporary directory, then uploaded.
type s3Out struct {
	client         *s3.Client
	bucket, prefix string
	url, tmp       string
}

func (s *s3Out) String() string { return s.url }
func (s *s3Out) dir() string    { return s.tmp }
func (s *s3Out) close()         { os.RemoveAll(s.tmp) }

func (s *s3Out) list(ctx context.Context, prefix string) ([]string, error) {
	return s3Source{client: s.client, bucket: s.bucket, prefix: s.prefix}.list(ctx, prefix)
}

func (s *s3Out) read(ctx context.Context, rel string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + rel)})
	if err != nil {
		var api smithy.APIError
		missing := errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
		if !missing && errors.As(err, &api) && (api.ErrorCode() == "AccessDenied" || api.ErrorCode() == "Forbidden") {
			// S3 answers 403, not 404, for a key that does not exist when the caller may not
			// list the bucket, as the deployed batch task may list only the prefixes of its state
			// folders (a GetObject carries no prefix to match). A listing of the key itself tells
			// a missing key from a refused one.
			if exists, lerr := s.exists(ctx, rel); lerr == nil && !exists {
				missing = true
			}
		}
		if missing {
			return nil, fmt.Errorf("s3://%s/%s%s: %w", s.bucket, s.prefix, rel, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("reading s3://%s/%s%s: %w", s.bucket, s.prefix, rel, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s%s: %w", s.bucket, s.prefix, rel, err)
	}
	return b, nil
}

// exists reports whether the object rel is listed.
func (s *s3Out) exists(ctx context.Context, rel string) (bool, error) {
	key := s.prefix + rel
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &key, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, err
	}
	return len(out.Contents) > 0 && aws.ToString(out.Contents[0].Key) == key, nil
}

func (s *s3Out) fetch(ctx context.Context, rels []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, rel := range rels {
		g.Go(func() error {
			b, err := s.read(ctx, rel)
			if err != nil {
				return err
			}
			p := filepath.Join(s.tmp, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			return os.WriteFile(p, b, 0o644)
		})
	}
	return g.Wait()
}

func (s *s3Out) publish(ctx context.Context, rels []string) error {
	return upload(ctx, s.client, s.tmp, s.bucket, s.prefix, rels)
}

// commit is one PutObject: S3 never shows a partly written object.
func (s *s3Out) commit(ctx context.Context, rel string, data []byte) error {
	key := s.prefix + rel
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
		Body: bytes.NewReader(data), ContentType: contentType(rel)})
	if err != nil {
		return fmt.Errorf("writing s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

func (s *s3Out) remove(ctx context.Context, rels []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, rel := range rels {
		g.Go(func() error {
			key := s.prefix + rel
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
				return fmt.Errorf("deleting s3://%s/%s: %w", s.bucket, key, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// under reports whether rel is in one of the folders.
func under(rel string, folders ...string) bool {
	for _, f := range folders {
		if strings.HasPrefix(rel, f+"/") {
			return true
		}
	}
	return false
}
