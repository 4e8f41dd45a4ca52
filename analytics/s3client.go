package analytics

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// NewS3Client is the S3 client the batch job uses (default credential chain, AWS_ENDPOINT_URL_S3
// with path-style addressing), exported so the local pipeline's sink writes where the batch job
// reads with the same rules.
func NewS3Client(ctx context.Context) (*s3.Client, error) { return newS3Client(ctx) }
