package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// KinesisForwarder implements Streams over a real Kinesis API (AWS, kinesalite, LocalStack) with
// the AWS SDK, so `pinpipe serve --kinesis-endpoint URL` puts what the API receives there.
type KinesisForwarder struct {
	Client *kinesis.Client
}

// NewKinesisForwarder returns a forwarder to endpoint. A loopback endpoint (kinesalite) gets
// fixed local credentials; any other gets the AWS SDK's default chain (environment, profile,
// role) and region.
func NewKinesisForwarder(ctx context.Context, endpoint string) (*KinesisForwarder, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("kinesis endpoint %q: want http(s)://host:port", endpoint)
	}
	var cfg aws.Config
	if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
		cfg = aws.Config{Region: localRegion, Credentials: staticCreds{}, HTTPClient: &http.Client{}}
	} else if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
		return nil, fmt.Errorf("kinesis endpoint %s: AWS configuration: %w", endpoint, err)
	}
	return &KinesisForwarder{Client: kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})}, nil
}

// asStreamError turns an SDK error into the Kinesis error the API answers with.
func asStreamError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		status := 400
		if ae.ErrorFault() == smithy.FaultServer {
			status = 500
		}
		return &StreamError{Type: ae.ErrorCode(), Message: ae.ErrorMessage(), Status: status}
	}
	return &StreamError{Type: "InternalFailure", Message: err.Error(), Status: 502}
}

func (f *KinesisForwarder) ListStreams(ctx context.Context) ([]string, error) {
	var names []string
	in := &kinesis.ListStreamsInput{}
	for {
		out, err := f.Client.ListStreams(ctx, in)
		if err != nil {
			return nil, asStreamError(err)
		}
		names = append(names, out.StreamNames...)
		if !aws.ToBool(out.HasMoreStreams) || len(out.StreamNames) == 0 {
			return names, nil
		}
		in.ExclusiveStartStreamName = aws.String(names[len(names)-1])
	}
}

func (f *KinesisForwarder) DescribeStream(ctx context.Context, name string) (*StreamDescription, error) {
	out, err := f.Client.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)})
	if err != nil {
		return nil, asStreamError(err)
	}
	s := out.StreamDescription
	d := &StreamDescription{
		StreamName:           aws.ToString(s.StreamName),
		StreamARN:            aws.ToString(s.StreamARN),
		StreamStatus:         string(s.StreamStatus),
		StreamModeDetails:    streamMode{"PROVISIONED"},
		HasMoreShards:        aws.ToBool(s.HasMoreShards),
		RetentionPeriodHours: int(aws.ToInt32(s.RetentionPeriodHours)),
		EncryptionType:       string(s.EncryptionType),
		EnhancedMonitoring:   []enhancedMon{{ShardLevelMetrics: []string{}}},
	}
	if s.StreamModeDetails != nil {
		d.StreamModeDetails.StreamMode = string(s.StreamModeDetails.StreamMode)
	}
	if d.EncryptionType == "" {
		d.EncryptionType = "NONE"
	}
	if s.StreamCreationTimestamp != nil {
		d.StreamCreationTimestamp = float64(s.StreamCreationTimestamp.UnixMilli()) / 1000
	}
	for _, sh := range s.Shards {
		x := Shard{ShardID: aws.ToString(sh.ShardId)}
		if sh.HashKeyRange != nil {
			x.HashKeyRange = hashRange{aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey)}
		}
		if sh.SequenceNumberRange != nil {
			x.SequenceNumberRange = seqNumRange{aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber),
				aws.ToString(sh.SequenceNumberRange.EndingSequenceNumber)}
		}
		d.Shards = append(d.Shards, x)
	}
	return d, nil
}

func (f *KinesisForwarder) CreateStream(ctx context.Context, name string, shards int) error {
	if err := validStreamName(name); err != nil {
		return err
	}
	_, err := f.Client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	if err != nil {
		return asStreamError(err)
	}
	return nil
}

func (f *KinesisForwarder) DeleteStream(ctx context.Context, name string) error {
	if _, err := f.Client.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name)}); err != nil {
		return asStreamError(err)
	}
	return nil
}

func (f *KinesisForwarder) PutRecord(ctx context.Context, name string, e PutEntry) (PutResult, error) {
	if err := validEntry(e); err != nil {
		return PutResult{}, err
	}
	out, err := f.Client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), Data: e.Data, PartitionKey: aws.String(e.PartitionKey)})
	if err != nil {
		return PutResult{}, asStreamError(err)
	}
	return PutResult{SequenceNumber: aws.ToString(out.SequenceNumber), ShardID: aws.ToString(out.ShardId)}, nil
}

func (f *KinesisForwarder) PutRecords(ctx context.Context, name string, es []PutEntry) ([]PutResult, error) {
	if len(es) < 1 || len(es) > maxPutRecords {
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d", maxPutRecords)
	}
	in := &kinesis.PutRecordsInput{StreamName: aws.String(name)}
	for _, e := range es {
		if err := validEntry(e); err != nil {
			return nil, err
		}
		in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{Data: e.Data, PartitionKey: aws.String(e.PartitionKey)})
	}
	out, err := f.Client.PutRecords(ctx, in)
	if err != nil {
		return nil, asStreamError(err)
	}
	if len(out.Records) != len(es) {
		return nil, &StreamError{Type: "InternalFailure", Message: fmt.Sprintf("PutRecords answered %d results for %d records", len(out.Records), len(es)), Status: 502}
	}
	rs := make([]PutResult, len(es))
	for i, r := range out.Records {
		rs[i] = PutResult{SequenceNumber: aws.ToString(r.SequenceNumber), ShardID: aws.ToString(r.ShardId),
			ErrorCode: aws.ToString(r.ErrorCode), ErrorMessage: aws.ToString(r.ErrorMessage)}
	}
	return rs, nil
}

// ReadShard reads with a fresh shard iterator each call (AFTER_SEQUENCE_NUMBER or TRIM_HORIZON),
// which keeps the cleaner's only state its checkpoint.
func (f *KinesisForwarder) ReadShard(ctx context.Context, name, shardID, after string, limit int) ([]StreamRecord, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String(shardID),
		ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon}
	if after != "" {
		in.ShardIteratorType, in.StartingSequenceNumber = ktypes.ShardIteratorTypeAfterSequenceNumber, aws.String(after)
	}
	it, err := f.Client.GetShardIterator(ctx, in)
	if err != nil {
		return nil, asStreamError(err)
	}
	out, err := f.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(int32(min(limit, 10000)))})
	if err != nil {
		return nil, asStreamError(err)
	}
	recs := make([]StreamRecord, len(out.Records))
	for i, r := range out.Records {
		recs[i] = StreamRecord{SequenceNumber: aws.ToString(r.SequenceNumber), PartitionKey: aws.ToString(r.PartitionKey), Data: r.Data}
		if r.ApproximateArrivalTimestamp != nil {
			recs[i].Arrival = *r.ApproximateArrivalTimestamp
		}
	}
	return recs, nil
}

// staticCreds are the fixed credentials a local Kinesis stand-in (kinesalite) accepts.
type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "pinpipe-local"}, nil
}
