package local

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// SinkBucket is the bucket name under which ServeSinkS3 shows the sink directory.
const SinkBucket = "pinpipe-sink"

// s3MaxKeys is S3's largest (and default) page of a listing.
const s3MaxKeys = 1000

// S3Handler serves a directory as the one S3 bucket SinkBucket, path-style, with S3's XML
// shapes and error codes: ListBuckets, HeadBucket, GetBucketLocation, ListObjectsV2 (max-keys,
// continuation-token, start-after, prefix, delimiter, encoding-type), ListObjects (marker),
// GetObject (Range) and HeadObject. It is read-only: the sink owns the directory, and an object
// written beside it would break exactly once. With Writable, PutObject and DeleteObject go to
// gofakes3 over the same directory, for tests that plant objects.
//
// It is an http.Handler so that an authentication middleware can wrap it.
type S3Handler struct {
	Dir      string
	Writable bool
	writes   http.Handler
}

// NewS3Handler returns the handler over dir.
func NewS3Handler(dir string, writable bool) (*S3Handler, error) {
	h := &S3Handler{Dir: dir, Writable: writable}
	if writable {
		backend, err := s3afero.SingleBucket(SinkBucket, afero.NewBasePathFs(afero.NewOsFs(), dir), nil)
		if err != nil {
			return nil, fmt.Errorf("s3 api: %w", err)
		}
		h.writes = noCORS(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	}
	return h, nil
}

// ServeSinkS3 serves the sink's directory as the S3 bucket SinkBucket at addr (see S3Handler),
// so an S3 client (aws s3, boto3, the SDKs) reads the Confluent-layout objects as it would from
// the deployed bucket. With key set, every request must carry it (see GuardS3), as on the API.
// It returns the server; Close it to stop.
func ServeSinkS3(addr, dir string, writable bool, key string) (*http.Server, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("s3 api: %w", err)
	}
	h, err := NewS3Handler(dir, writable)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("s3 api: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: GuardS3(key, h), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: RequestReadTimeout}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "s3 api: %v\n", err)
		}
	}()
	return srv, "http://" + ln.Addr().String(), nil
}

// s3Error is S3's error body.
type s3Error struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	BucketName string `xml:",omitempty"`
	Key        string `xml:",omitempty"`
	Resource   string
	RequestID  string `xml:"RequestId"`
}

func (h *S3Handler) fail(w http.ResponseWriter, r *http.Request, status int, code, msg, bucket, key string) {
	if r.Method == http.MethodHead { // a HEAD answer has no body: the status says it all
		w.WriteHeader(status)
		return
	}
	writeXML(w, status, s3Error{Code: code, Message: msg, BucketName: bucket, Key: key,
		Resource: r.URL.Path, RequestID: strconv.FormatInt(time.Now().UnixNano(), 36)})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

func (h *S3Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if strings.HasPrefix(r.Host, SinkBucket+".") { // virtual-hosted style: the bucket in the host
		bucket, key = SinkBucket, strings.TrimPrefix(r.URL.Path, "/")
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case bucket != "" && bucket != SinkBucket:
		h.fail(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.", bucket, "")
	case !read && r.Method != http.MethodPut && r.Method != http.MethodPost && r.Method != http.MethodDelete:
		h.fail(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.", bucket, key)
	case !read && h.writes == nil:
		h.fail(w, r, http.StatusForbidden, "AccessDenied", "Access Denied: the sink's bucket is read-only (start with --s3-writable to write to it).", bucket, key)
	case !read:
		h.writes.ServeHTTP(w, r)
	case bucket == "":
		h.listBuckets(w, r)
	case key != "":
		h.getObject(w, r, key)
	case r.Method == http.MethodHead:
		w.Header().Set("x-amz-bucket-region", "us-east-1")
		w.WriteHeader(http.StatusOK)
	case r.URL.Query().Has("location"):
		writeXML(w, http.StatusOK, struct {
			XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
		}{}) // empty: us-east-1, as S3 answers for it
	case r.URL.Query().Get("list-type") == "2":
		h.list(w, r, true)
	case len(r.URL.Query()) == 0 || hasOnly(r.URL.Query(), "prefix", "delimiter", "marker", "max-keys", "encoding-type", "x-id"):
		h.list(w, r, false)
	default:
		h.fail(w, r, http.StatusNotImplemented, "NotImplemented", "A header or query you provided implies functionality that is not implemented.", bucket, "")
	}
}

func hasOnly(q url.Values, names ...string) bool {
	for k := range q {
		if !strings.Contains(","+strings.Join(names, ",")+",", ","+k+",") {
			return false
		}
	}
	return true
}

func (h *S3Handler) listBuckets(w http.ResponseWriter, r *http.Request) {
	created := time.Unix(0, 0).UTC()
	if st, err := os.Stat(h.Dir); err == nil {
		created = st.ModTime().UTC()
	}
	type bucket struct {
		Name         string
		CreationDate string
	}
	writeXML(w, http.StatusOK, struct {
		XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
		Owner   struct{ ID, DisplayName string }
		Buckets []bucket `xml:"Buckets>Bucket"`
	}{Owner: struct{ ID, DisplayName string }{"pinpipe", "pinpipe"},
		Buckets: []bucket{{SinkBucket, created.Format(time.RFC3339)}}})
}

// file returns the path of an object, or "" when key names no object (outside the directory, a
// directory, or a temporary file of the sink).
func (h *S3Handler) file(key string) string {
	p, err := DirStore{h.Dir}.path(key)
	if err != nil || strings.HasPrefix(path.Base(key), tempPrefix) || strings.HasSuffix(key, "/") {
		return ""
	}
	return p
}

func (h *S3Handler) getObject(w http.ResponseWriter, r *http.Request, key string) {
	p := h.file(key)
	var f *os.File
	var st os.FileInfo
	err := os.ErrNotExist
	if p != "" {
		if f, err = os.Open(p); err == nil {
			defer f.Close()
			if st, err = f.Stat(); err == nil && st.IsDir() {
				err = os.ErrNotExist
			}
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
			h.fail(w, r, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", SinkBucket, key)
		} else {
			h.fail(w, r, http.StatusInternalServerError, "InternalError", err.Error(), SinkBucket, key)
		}
		return
	}
	etag, err := fileETag(f)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "InternalError", err.Error(), SinkBucket, key)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Type", "application/json")
	// ServeContent answers Range (206 with Content-Range), conditional requests and HEAD; its
	// plain-text 416 becomes S3's InvalidRange.
	http.ServeContent(&rangeError{ResponseWriter: w, h: h, r: r, key: key}, r, "", st.ModTime(), f)
}

// rangeError turns ServeContent's 416 answer into S3's InvalidRange error body.
type rangeError struct {
	http.ResponseWriter
	h       *S3Handler
	r       *http.Request
	key     string
	swallow bool
}

func (e *rangeError) WriteHeader(status int) {
	if status != http.StatusRequestedRangeNotSatisfiable {
		e.ResponseWriter.WriteHeader(status)
		return
	}
	e.swallow = true
	e.Header().Del("Content-Length")
	e.h.fail(e.ResponseWriter, e.r, status, "InvalidRange", "The requested range is not satisfiable", SinkBucket, e.key)
}

func (e *rangeError) Write(b []byte) (int, error) {
	if e.swallow {
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

// fileETag is S3's ETag of a single-part object: the quoted MD5 of its body. It leaves f at 0.
func fileETag(f *os.File) (string, error) {
	sum := md5.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return "", err
	}
	return `"` + hex.EncodeToString(sum.Sum(nil)) + `"`, nil
}

type s3Object struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
}

type s3Prefix struct{ Prefix string }

// list answers ListObjectsV2 (v2) or ListObjects (v1) in key order, a page of at most max-keys
// keys and common prefixes together, as S3 counts them.
func (h *S3Handler) list(w http.ResponseWriter, r *http.Request, v2 bool) {
	q := r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	enc := q.Get("encoding-type")
	if enc != "" && enc != "url" {
		h.fail(w, r, http.StatusBadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request", SinkBucket, "")
		return
	}
	maxKeys := s3MaxKeys
	if s := q.Get("max-keys"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			h.fail(w, r, http.StatusBadRequest, "InvalidArgument", "Provided max-keys not an integer or within integer range", SinkBucket, "")
			return
		}
		maxKeys = min(n, s3MaxKeys)
	}
	// after is the last item of the previous page: keys up to it are skipped, and keys under it
	// too when it is a common prefix.
	var after, token string
	if v2 {
		after = q.Get("start-after")
		if token = q.Get("continuation-token"); token != "" {
			b, err := base64.RawURLEncoding.DecodeString(token)
			if err != nil || !strings.HasPrefix(string(b), "k:") {
				h.fail(w, r, http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect", SinkBucket, "")
				return
			}
			after = max(after, string(b[2:]))
		}
	} else {
		after = q.Get("marker")
	}
	keys, err := h.keys(prefix)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "InternalError", err.Error(), SinkBucket, "")
		return
	}
	var contents []s3Object
	var prefixes []s3Prefix
	var last string
	truncated := false
	skipUnder := ""
	if delim != "" && strings.HasSuffix(after, delim) {
		skipUnder = after
	}
	for _, k := range keys {
		if k <= after || skipUnder != "" && strings.HasPrefix(k, skipUnder) {
			continue
		}
		item, cp := k, false
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				item, cp = k[:len(prefix)+i+len(delim)], true
				if item == last {
					continue
				}
			}
		}
		if len(contents)+len(prefixes) >= maxKeys {
			truncated = maxKeys > 0
			break
		}
		last = item
		if cp {
			prefixes = append(prefixes, s3Prefix{item})
			continue
		}
		st, err := os.Stat(filepath.Join(h.Dir, filepath.FromSlash(k)))
		if err != nil {
			continue // removed since the walk
		}
		o := s3Object{Key: k, LastModified: st.ModTime().UTC().Format("2006-01-02T15:04:05.000Z"), Size: st.Size(), StorageClass: "STANDARD"}
		if f, err := os.Open(filepath.Join(h.Dir, filepath.FromSlash(k))); err == nil {
			o.ETag, _ = fileETag(f)
			f.Close()
		}
		contents = append(contents, o)
	}
	e := func(s string) string {
		if enc == "" {
			return s
		}
		return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
	}
	for i := range contents {
		contents[i].Key = e(contents[i].Key)
	}
	for i := range prefixes {
		prefixes[i].Prefix = e(prefixes[i].Prefix)
	}
	type result struct {
		XMLName               xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
		Name                  string
		Prefix                string
		Marker                *string `xml:",omitempty"`
		NextMarker            string  `xml:",omitempty"`
		StartAfter            string  `xml:",omitempty"`
		ContinuationToken     string  `xml:",omitempty"`
		NextContinuationToken string  `xml:",omitempty"`
		KeyCount              *int    `xml:",omitempty"`
		MaxKeys               int
		Delimiter             string `xml:",omitempty"`
		EncodingType          string `xml:",omitempty"`
		IsTruncated           bool
		Contents              []s3Object
		CommonPrefixes        []s3Prefix
	}
	res := result{Name: SinkBucket, Prefix: e(prefix), MaxKeys: maxKeys, Delimiter: e(delim), EncodingType: enc,
		IsTruncated: truncated, Contents: contents, CommonPrefixes: prefixes}
	if v2 {
		n := len(contents) + len(prefixes)
		res.KeyCount, res.StartAfter, res.ContinuationToken = &n, e(q.Get("start-after")), token
		if truncated {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte("k:" + last))
		}
	} else {
		m := e(after)
		res.Marker = &m
		if truncated {
			res.NextMarker = e(last)
		}
	}
	writeXML(w, http.StatusOK, res)
}

// keys returns every object key under prefix, sorted as S3 sorts them (by UTF-8 bytes). It walks
// only the directory the prefix names, not the whole bucket.
func (h *S3Handler) keys(prefix string) ([]string, error) {
	base := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = prefix[:i]
	}
	root := h.Dir
	if base != "" {
		p, err := DirStore{h.Dir}.path(base)
		if err != nil {
			return nil, nil // a prefix that leaves the bucket has no keys
		}
		root = p
	}
	var keys []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tempPrefix) || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(h.Dir, p)
		if err != nil {
			return err
		}
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	sort.Strings(keys)
	return keys, nil
}

// noCORS drops the Access-Control-* headers gofakes3 adds (a wildcard origin would let any web
// page a user opens write to the bucket) and refuses its CORS preflight.
func noCORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &corsStripper{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		cw.strip() // a handler that wrote nothing: net/http sends the headers after it returns
	})
}

type corsStripper struct {
	http.ResponseWriter
	wrote bool
}

func (c *corsStripper) strip() {
	if !c.wrote {
		c.wrote = true
		for k := range c.Header() {
			if strings.HasPrefix(k, "Access-Control-") {
				c.Header().Del(k)
			}
		}
	}
}

func (c *corsStripper) WriteHeader(status int) {
	c.strip()
	c.ResponseWriter.WriteHeader(status)
}

func (c *corsStripper) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}
