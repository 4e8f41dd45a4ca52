package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/record"
)

// StorageStackProps configures the storage stack.
type StorageStackProps struct {
	awscdk.StackProps
	Config Config
}

// StorageStack holds the pipeline's data: the bucket the Kafka S3 sink writes raw records to, the
// bucket of analysis results, the bucket their server access logs go to, and the three Kinesis
// streams. Everything here is retained on `cdk destroy` unless the destroyData context is true.
type StorageStack struct {
	awscdk.Stack
	// SinkBucket receives topics/<topic>/partition=<p>/… from the MSK Connect S3 sink; the
	// connector plugin zip lives under plugins/.
	SinkBucket awss3.Bucket
	// ResultsBucket receives the batch analysis outputs and reports.
	ResultsBucket awss3.Bucket
	// AccessLogBucket receives the server access logs of the other buckets (and any other
	// access logs a stack wants to keep, under its own prefix).
	AccessLogBucket awss3.Bucket
	// Streams are streaming-<userId>-pin|geo|user, by record kind.
	Streams map[record.Kind]awskinesis.Stream
}

// NewStorageStack declares the storage.
func NewStorageStack(scope constructs.Construct, id string, props *StorageStackProps) *StorageStack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &StorageStack{Stack: stack, Streams: map[record.Kind]awskinesis.Stream{}}
	cfg := props.Config
	removal := cfg.removal()

	// Server access logs can only be delivered to a bucket with S3-managed encryption.
	s.AccessLogBucket = awss3.NewBucket(stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		BucketName:        bucketName(cfg, "logs"),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(90)),
		}},
		RemovalPolicy:     removal,
		AutoDeleteObjects: jsii.Bool(cfg.DestroyData),
	})
	nagSuppress(s.AccessLogBucket, "AwsSolutions-S1",
		"this is the access-log bucket; logging its own accesses into itself would loop")

	s.SinkBucket = dataBucket(stack, "Sink", cfg, "sink", s.AccessLogBucket)
	s.ResultsBucket = dataBucket(stack, "Results", cfg, "results", s.AccessLogBucket)
	// Athena writes every query's result (and its metadata) under AthenaPrefix: the saved queries
	// a user runs and, with analysisEngine=athena, 16 objects a day whose CSV is copied to its
	// output name. They are scratch: expire them instead of keeping them for ever.
	s.ResultsBucket.AddLifecycleRule(&awss3.LifecycleRule{
		Id:         jsii.String("expire-athena-results"),
		Prefix:     jsii.String(AthenaPrefix),
		Expiration: awscdk.Duration_Days(jsii.Number(AthenaResultsDays)),
	})

	for _, k := range record.Kinds {
		sp := &awskinesis.StreamProps{
			StreamName:      jsii.String(record.Stream(cfg.UserID, k)),
			Encryption:      awskinesis.StreamEncryption_MANAGED,
			RetentionPeriod: awscdk.Duration_Hours(jsii.Number(24)),
			RemovalPolicy:   removal,
		}
		if cfg.KinesisCapacityMode == "ON_DEMAND" {
			sp.StreamMode = awskinesis.StreamMode_ON_DEMAND
		} else {
			sp.StreamMode = awskinesis.StreamMode_PROVISIONED
			sp.ShardCount = jsii.Number(float64(cfg.KinesisShards))
		}
		s.Streams[k] = awskinesis.NewStream(stack, jsii.String("Stream"+kindTitle(k)), sp)
	}
	return s
}

// dataBucket is a bucket for pipeline data: S3-managed encryption (the MSK Connect sink and
// Athena need no key grants), public access blocked, TLS only, versioned with old versions
// expiring after 30 days, access logs to logs under its own prefix.
func dataBucket(scope constructs.Construct, id string, cfg Config, suffix string, logs awss3.IBucket) awss3.Bucket {
	return awss3.NewBucket(scope, jsii.String(id), &awss3.BucketProps{
		BucketName:             bucketName(cfg, suffix),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:              jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String(suffix + "/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-old-versions"),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
		}},
		RemovalPolicy:     cfg.removal(),
		AutoDeleteObjects: jsii.Bool(cfg.DestroyData),
	})
}

// bucketName is pinpipe-<userId>-<suffix>-<account>-<region>: globally unique and still
// recognisable.
func bucketName(cfg Config, suffix string) *string {
	return awscdk.Fn_Join(jsii.String("-"), &[]*string{
		jsii.String(cfg.Name(suffix)), awscdk.Aws_ACCOUNT_ID(), awscdk.Aws_REGION(),
	})
}

// kindTitle is "Pin", "Geo" or "User", for construct ids.
func kindTitle(k record.Kind) string {
	s := string(k)
	return string(s[0]-'a'+'A') + s[1:]
}
