package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// ExecuteAPIService is the SigV4 service name of API Gateway's invoke endpoints.
const ExecuteAPIService = "execute-api"

// SigV4 signs every request with AWS Signature Version 4, for APIs whose routes use IAM
// authorisation (API Gateway's AWS_IAM): the caller is the principal of Credentials, which must be
// allowed execute-api:Invoke on the routes. Requests are signed, body included, right before each
// send (a retry is signed afresh).
type SigV4 struct {
	// Credentials, typically the default chain's (config.LoadDefaultConfig): environment,
	// shared files, SSO, the Lambda or ECS role, the instance profile.
	Credentials aws.CredentialsProvider
	// Region of the API.
	Region string
	// Service is the signing name. Default ExecuteAPIService.
	Service string
	// Now is the signing time. Default time.Now.
	Now func() time.Time

	// signer keeps derived signing keys (per access key ID, region and day); it is safe for
	// concurrent use.
	signer *v4.Signer
}

// defaultSigner serves SigV4 values made without NewSigV4.
var defaultSigner = v4.NewSigner()

// NewSigV4 returns a signer for the API at region with credentials, cached so that each request
// does not fetch them again.
func NewSigV4(credentials aws.CredentialsProvider, region string) (*SigV4, error) {
	if credentials == nil {
		return nil, errors.New("SigV4: no AWS credentials")
	}
	if region == "" {
		return nil, errors.New("SigV4: no region (give one, or use an invoke URL that names it)")
	}
	if _, ok := credentials.(*aws.CredentialsCache); !ok {
		credentials = aws.NewCredentialsCache(credentials)
	}
	return &SigV4{Credentials: credentials, Region: region, signer: v4.NewSigner()}, nil
}

// Sign adds the SigV4 headers (Authorization, X-Amz-Date, and X-Amz-Security-Token for
// temporary credentials) to req, whose body is body.
func (s *SigV4) Sign(ctx context.Context, req *http.Request, body []byte) error {
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("SigV4: AWS credentials: %w", err)
	}
	service := s.Service
	if service == "" {
		service = ExecuteAPIService
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	signer := s.signer
	if signer == nil {
		signer = defaultSigner
	}
	sum := sha256.Sum256(body)
	if err := signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, s.Region, now()); err != nil {
		return fmt.Errorf("SigV4: sign %s %s: %w", req.Method, req.URL, err)
	}
	return nil
}

// invokeHost is the host of an API Gateway invoke URL: <api-id>.execute-api.<region>.amazonaws.com
// (or .amazonaws.com.cn).
var invokeHost = regexp.MustCompile(`^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// RegionOfInvokeURL is the region an API Gateway invoke URL names, if it is one.
func RegionOfInvokeURL(invokeURL string) (string, bool) {
	u, err := url.Parse(invokeURL)
	if err != nil {
		return "", false
	}
	m := invokeHost.FindStringSubmatch(u.Hostname())
	if m == nil {
		return "", false
	}
	return m[1], true
}
