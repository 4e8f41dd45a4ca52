package local

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// SinkBucket is the bucket name under which ServeSinkS3 shows the sink directory.
const SinkBucket = "pinpipe-sink"

// ServeSinkS3 serves the sink's directory as the S3 bucket SinkBucket at addr (gofakes3 over
// the directory), so an S3 client (aws s3, boto3, the SDKs) reads the Confluent-layout objects
// as it would from the deployed bucket. It returns the server; Close it to stop.
func ServeSinkS3(addr, dir string) (*http.Server, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("s3 api: %w", err)
	}
	backend, err := s3afero.SingleBucket(SinkBucket, afero.NewBasePathFs(afero.NewOsFs(), dir), nil)
	if err != nil {
		return nil, "", fmt.Errorf("s3 api: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("s3 api: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server(),
		ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "s3 api: %v\n", err)
		}
	}()
	return srv, "http://" + ln.Addr().String(), nil
}
