package stacks

import (
	"fmt"
	"strings"
)

// What the deployment downloads and runs as root — the Kafka client, the Confluent REST proxy and
// aws-msk-iam-auth on the proxy host, the S3 sink connector for MSK Connect — is checked against
// a digest fixed at synth time before it is used. The digests below are the ones their publishers
// publish; README.md ("Pinned downloads") says where each was read.

// kafkaSHA512 is the SHA-512 of kafka_2.13-<version>.tgz, by version: the value Apache publishes
// in the .sha512 file beside each archive on archive.apache.org/dist/kafka/<version>/, as
// recorded in Strimzi's kafka-versions.yaml (whose image build checks it with sha512sum); the
// 3.8.1 and 3.9.1 values were also found, identical, in unrelated projects' checksum pins. 3.7.2
// is not in Strimzi's list: its value is the one two unrelated projects pin, one of them quoting
// Apache's .sha512. The versions are exactly the clients KafkaClientVersion installs for the
// kafkaVersion values the config accepts (a test keeps it so), so every accepted kafkaVersion is
// pinned; kafkaSha512 overrides the pin.
var kafkaSHA512 = map[string]string{
	"3.6.0": "98D20F475BCCC11EB3CF05362112C788EEA7BFC88ABDDBA66CFCFB48880D3BB97918A90D44EB7C1720527BEBCA93DD231002B5159876F6EE8B7FCD91CC1B0644",
	"3.7.2": "65C09FBE8C78098B1EFB26632A35D90EE709327A7AAB13B37B2023692E1649105714EA513253A19F2CB685DC2C0C3837F32E39E9FB1D8D2367FE4650E5AD3CDC",
	"3.8.1": "B43FADA353B7DCA51C0F90ACF594EC1CE06B2344C046D4059D4DEAB0615E0E3E76E92ECCDBDFA1ADAD1FBDE76C5F25E71ACD0DB013FB4B1778827448B5285EDF",
	"3.9.1": "1EA204BA73411737A275429CA976D440F007FF0957B90B19BE41DC5A4BAE52617267769BE9F0B5791714D0B3C4C760605BD426FAEA39EDD90763585523FA2CFE",
	"4.0.0": "00722AB0A6B954E0006994B8D589DCD8F26E1827C47F70B6E820FB45AA35945C19163B0F188CAF0CAF976C11F7AB005FD368C54E5851E899D2DE687A804A5EB9",
	"4.1.0": "2F611FA1117747A3567AB5D8E59C24A3DC5CD3C0D50A67CF718AB5203BD5CA69D9A1E2C705EE07B8363D71DE48964BFD65FAC31100A91B458FBD6A2EB3C8EDE5",
}

// confluentSHA256 is the SHA-256 of confluent-community-<version>.tar.gz, by version. Confluent
// publishes no checksum beside its archives that we could find; this is the digest Homebrew pins
// for the same URL (formula confluent-platform 7.6.1), matched by an independent tap formula.
var confluentSHA256 = map[string]string{
	"7.6.1": "ae9a81f3cc914a21b977abeff1fa4778bf79a2c2dc8f5fc822e2da15d960bb92",
}

// Digest algorithms of a Download.
const (
	SHA256 = "sha256"
	SHA512 = "sha512"
)

// Download is one archive the proxy host fetches, and how it is checked before it is used.
type Download struct {
	URL string
	// Algo is SHA256 or SHA512; Digest the expected digest in lower-case hex. An empty Digest
	// means unpinned: the archive is checked against ChecksumURL, the checksum file its
	// publisher puts beside it, fetched at boot; with no ChecksumURL either, it is not checked
	// (allowUnpinnedDownloads only).
	Algo, Digest, ChecksumURL string
}

// KafkaDownload is the Kafka client archive (Scala 2.13 build) and its SHA-512.
func (c Config) KafkaDownload() Download {
	v := c.KafkaClientVersion()
	url := fmt.Sprintf("https://archive.apache.org/dist/kafka/%[1]s/kafka_2.13-%[1]s.tgz", v)
	return Download{URL: url, Algo: SHA512, Digest: pick(c.KafkaSha512, kafkaSHA512[v]), ChecksumURL: url + ".sha512"}
}

// ConfluentDownload is the Confluent Community archive (REST proxy) and its SHA-256.
func (c Config) ConfluentDownload() Download {
	v := c.ConfluentVersion
	minor := v
	if i := strings.LastIndexByte(v, '.'); i > 0 {
		minor = v[:i]
	}
	url := fmt.Sprintf("https://packages.confluent.io/archive/%s/confluent-community-%s.tar.gz", minor, v)
	return Download{URL: url, Algo: SHA256, Digest: pick(c.ConfluentSha256, confluentSHA256[v])}
}

// MskIamAuthDownload is the aws-msk-iam-auth jar with its dependencies (the -all jar of the GitHub
// release). AWS publishes its SHA-256 as <jar>.sha256 beside it in each release; no copy of that
// value could be read here, so unless mskIamAuthSha256 pins it, the boot checks the jar against
// that file.
func (c Config) MskIamAuthDownload() Download {
	v := c.MskIamAuthVersion
	url := fmt.Sprintf("https://github.com/aws/aws-msk-iam-auth/releases/download/v%[1]s/aws-msk-iam-auth-%[1]s-all.jar", v)
	return Download{URL: url, Algo: SHA256, Digest: c.MskIamAuthSha256, ChecksumURL: url + ".sha256"}
}

func pick(override, pinned string) string {
	if override != "" {
		return strings.ToLower(override)
	}
	return strings.ToLower(pinned)
}

// validatePins refuses a download without a pinned digest, naming the context key that pins it,
// unless it is a default version whose publisher's checksum file is checked at boot (README says
// which), or allowUnpinnedDownloads is set.
func (c Config) validatePins() error {
	if c.AllowUnpinnedDownloads {
		return nil
	}
	def := DefaultConfig()
	refuse := func(key, what, where string) error {
		return badKey(key, "%s has no pinned checksum: set %s to the digest %s, "+
			"or set allowUnpinnedDownloads=true to deploy it unpinned", what, key, where)
	}
	if d := c.KafkaDownload(); d.Digest == "" {
		return refuse("kafkaSha512", "Kafka client "+c.KafkaClientVersion()+" (for kafkaVersion "+c.KafkaVersion+")",
			"Apache publishes in "+d.ChecksumURL)
	}
	if d := c.ConfluentDownload(); d.Digest == "" {
		return refuse("confluentSha256", "Confluent Community "+c.ConfluentVersion, "of "+d.URL)
	}
	if c.MskIamAuthSha256 == "" && c.MskIamAuthVersion != def.MskIamAuthVersion {
		return refuse("mskIamAuthSha256", "aws-msk-iam-auth "+c.MskIamAuthVersion,
			"AWS publishes in "+c.MskIamAuthDownload().ChecksumURL)
	}
	if c.ConnectorSha256 == "" && c.ConnectorZipPath == "" &&
		(c.ConnectorVersion != def.ConnectorVersion || c.ConnectorURL != "") {
		return refuse("connectorSha256", "the S3 sink connector "+c.ConnectorDownloadURL(), "of that zip")
	}
	return nil
}

// ConnectorUnpinned reports whether the connector zip is downloaded without a digest to check:
// the default version, for which no published checksum was found (README), or a version let
// through by allowUnpinnedDownloads. The deploy-time function then only records the digest it saw.
func (c Config) ConnectorUnpinned() bool {
	return c.ConnectorSha256 == "" && c.ConnectorZipPath == ""
}
