// Package local runs the whole pipeline on one machine with embedded stand-ins that speak the
// real protocols: a Kafka broker (kfake) on a TCP port, the REST API of the deployed API Gateway,
// a Kinesis-like stream store (or a forwarder to a real Kinesis API), the Confluent-layout S3 sink
// and the stream cleaner writing DuckDB tables. What a user learns against it holds in AWS, and
// standard tools (kcat, the original Python emulator, an S3 client) work against it unchanged.
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is the embedded Kafka broker: one kfake node on a real TCP port whose log segments,
// topics and consumer-group offsets live under its data directory, so a restart keeps them.
//
// kfake writes segments through the page cache and fsyncs on segment roll and on Close, like
// Kafka's defaults: a killed process loses nothing (the OS still holds the pages), a power cut
// may lose the last writes unless SyncWrites is set.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// BrokerConfig configures StartBroker.
type BrokerConfig struct {
	// Addr is host:port to listen on; port 0 picks a free one. Only the port is used by kfake,
	// which listens on 127.0.0.1.
	Addr string
	// DataDir keeps the broker's state; empty keeps everything in memory.
	DataDir string
	// Topics are created at start if missing, with Partitions partitions (default 1).
	Topics     []string
	Partitions int32
	// SyncWrites fsyncs every produced batch (durable across power loss, slower).
	SyncWrites bool
}

// StartBroker starts the broker and creates the configured topics.
func StartBroker(ctx context.Context, cfg BrokerConfig) (*Broker, error) {
	port, err := portOf(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker address: %w", err)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.ClusterID("pinpipe-local"),
		kfake.DefaultNumPartitions(1)}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("broker data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start kafka broker on %s (data %s): %w", cfg.Addr, cfg.DataDir, err)
	}
	b := &Broker{cluster: c, addr: c.ListenAddrs()[0]}
	if err := b.CreateTopics(ctx, cfg.Partitions, cfg.Topics...); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Addr is the broker's host:port, for clients' bootstrap servers.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker, saving its state.
func (b *Broker) Close() { b.cluster.Close() }

// CreateTopics creates the topics that do not exist yet.
func (b *Broker) CreateTopics(ctx context.Context, partitions int32, topics ...string) error {
	if len(topics) == 0 {
		return nil
	}
	if partitions <= 0 {
		partitions = 1
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics %s: %w", strings.Join(topics, ", "), err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// EndOffsets returns the next offset to be written of every partition of the topics.
func EndOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]map[int32]int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	out := map[string]map[int32]int64{}
	var bad error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			bad = fmt.Errorf("end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
			return
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out, bad
}

func portOf(addr string) (int, error) {
	if addr == "" {
		return 0, nil
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return 0, fmt.Errorf("%q: want host:port", addr)
	}
	host := addr[:i]
	if host != "" && host != "127.0.0.1" && host != "localhost" {
		return 0, fmt.Errorf("%q: the embedded broker listens on 127.0.0.1 only", addr)
	}
	var port int
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("%q: bad port", addr)
	}
	return port, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TopicEndOffsets is EndOffsets for a broker address.
func TopicEndOffsets(ctx context.Context, broker string, topics ...string) (map[string]map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return EndOffsets(ctx, kadm.NewClient(cl), topics...)
}
