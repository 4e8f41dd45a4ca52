package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sys/unix"
)

// ObjectStore is where the sink writes objects: a directory or an S3 bucket.
type ObjectStore interface {
	// Put writes an object whole: afterwards Get returns body, never part of it.
	Put(ctx context.Context, key string, body []byte) error
	// Get returns an object's body, or an error wrapping os.ErrNotExist when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Sync makes every Put so far durable; the sink calls it before committing offsets.
	Sync(ctx context.Context) error
	String() string
}

// DirStore keeps objects as files under a root directory, keys as relative paths.
type DirStore struct{ Root string }

func (d DirStore) path(key string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(key))
	if key == "" || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("object key %q leaves the store", key)
	}
	return filepath.Join(d.Root, clean), nil
}

// Put writes through a temporary file and a rename, so a crash never leaves a torn object.
// Durability is left to Sync, which flushes the whole file system once per batch.
func (d DirStore) Put(_ context.Context, key string, body []byte) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), tempPrefix+filepath.Base(p)+"-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, werr := tmp.Write(body)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// tempPrefix starts the name of Put's temporary files.
const tempPrefix = ".tmp-"

// RemoveTemps removes the temporary files a process killed inside Put left behind (they are
// never objects: an object appears only by the rename). Call it before a sink writes to Root.
func (d DirStore) RemoveTemps() error {
	err := filepath.WalkDir(d.Root, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && strings.HasPrefix(e.Name(), tempPrefix) {
			return os.Remove(path)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove temporary files under %s: %w", d.Root, err)
	}
	return nil
}

func (d DirStore) Get(_ context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return b, nil
}

// Sync flushes the file system holding Root (syncfs), covering every file and rename so far.
func (d DirStore) Sync(context.Context) error {
	if err := os.MkdirAll(d.Root, 0o755); err != nil {
		return err
	}
	f, err := os.Open(d.Root)
	if err != nil {
		return fmt.Errorf("sync %s: %w", d.Root, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", d.Root, err)
	}
	return nil
}

func (d DirStore) String() string { return d.Root }

// S3Store keeps objects in an S3 bucket under an optional prefix. A PUT is atomic and durable
// once acknowledged, so Sync has nothing to do.
type S3Store struct {
	Client *s3.Client
	Bucket string
	Prefix string
}

func (s S3Store) Put(ctx context.Context, key string, body []byte) error {
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(s.Prefix + key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s%s: %w", s.Bucket, s.Prefix, key, err)
	}
	return nil
}

func (s S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Prefix + key)})
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, fmt.Errorf("get s3://%s/%s%s: %w", s.Bucket, s.Prefix, key, os.ErrNotExist)
		}
		return nil, fmt.Errorf("get s3://%s/%s%s: %w", s.Bucket, s.Prefix, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (s S3Store) Sync(context.Context) error { return nil }

func (s S3Store) String() string { return "s3://" + s.Bucket + "/" + s.Prefix }
