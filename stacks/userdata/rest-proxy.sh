#!/bin/bash
# Boot script of the Kafka client and REST proxy instance (Amazon Linux 2023), replacing the
# original's hand-run install steps. stacks/ingestion.go renders it: it puts the settings checked
# below in front of this text as shell assignments. It can run again on the same machine: every
# step is skipped or redone to the same result.
#
# What it does: installs Java, the Kafka client of the cluster's version with aws-msk-iam-auth
# (for kafka-topics.sh / kafka-console-consumer.sh over IAM auth, as in the original), and the
# Confluent REST Proxy, each checked against a digest fixed at synth time before it is unpacked;
# writes client.properties and kafka-rest.properties for SASL/IAM over TLS with the instance
# role's ARN and the cluster's bootstrap string; runs the REST proxy as a systemd service that
# restarts on failure; then proves the whole path works (the REST proxy lists the user's topics
# and accepts a probe record over IAM, the Kafka CLI lists and reads them over IAM) and only then
# tells CloudFormation the instance is ready (cfn-signal, the instance's CreationPolicy). Any
# failure signals failure with the step that failed, so the stack rolls back saying why.
set -euo pipefail

: "${KAFKA_URL:?}" "${KAFKA_SHA512?}" "${KAFKA_SHA512_URL?}"
: "${CONFLUENT_URL:?}" "${CONFLUENT_SHA256?}"
: "${MSK_IAM_AUTH_URL:?}" "${MSK_IAM_AUTH_SHA256?}" "${MSK_IAM_AUTH_SHA256_URL?}"
: "${BOOTSTRAP_SERVERS:?}" "${ROLE_ARN:?}" "${REST_PORT:?}" "${AWS_REGION:?}"
: "${TOPICS:?}" "${PROBE_TOPIC:?}" "${GROUP_PREFIX:?}" "${CFN_STACK:?}" "${CFN_RESOURCE:?}"

KAFKA_HOME=/opt/kafka
CONFLUENT_HOME=/opt/confluent
REST_USER=kafka-rest
IAM_JAR=aws-msk-iam-auth-all.jar
CFN_SIGNAL=/opt/aws/bin/cfn-signal
# How long the readiness checks wait for the REST proxy and the brokers.
READY_TIMEOUT=${READY_TIMEOUT:-600}
READY_POLL=${READY_POLL:-10}

STEP="starting"
log() {
	STEP="$*"
	echo "pinpipe-userdata: $*"
}

# signal CODE REASON: tells CloudFormation whether the instance is ready (0) or not (1).
signal() {
	"$CFN_SIGNAL" --exit-code "$1" --reason "$2" --stack "$CFN_STACK" --resource "$CFN_RESOURCE" \
		--region "$AWS_REGION" || echo "pinpipe-userdata: cfn-signal failed" >&2
}

# on_exit signals failure, naming the step that failed, when the script stops early.
on_exit() {
	local status=$?
	if [ "$status" -ne 0 ]; then
		echo "pinpipe-userdata: FAILED (exit $status) while: $STEP" >&2
		if [ -x "$CFN_SIGNAL" ]; then
			signal 1 "boot failed (exit $status) while: $STEP; see /var/log/cloud-init-output.log"
		fi
	fi
}

# download URL FILE: fetch over HTTPS with retries (the NAT gateway may still be warming up).
# Its failures return explicitly (as fetch_verified's), so they hold where set -e does not
# (a function called from an if).
download() {
	curl --fail --silent --show-error --location --proto '=https' --retry 10 --retry-delay 6 \
		--retry-all-errors --output "$2.part" "$1" || return
	mv "$2.part" "$2"
}

# published_digest ALGO FILE: the digest in a publisher's checksum file, lower case. It reads
# sha256sum/sha512sum output ("<hex>  <name>"), a bare digest, and Apache's gpg --print-md layout
# ("<name>: <HEX> <HEX> ..." over several lines). Anything else fails.
published_digest() {
	local algo=$1 file=$2 len digest
	case $algo in
	sha256) len=64 ;;
	sha512) len=128 ;;
	*) return 1 ;;
	esac
	digest=$(sed '1s/^[^ ]*: //' "$file" | tr -d ' \t\r\n' | tr 'A-F' 'a-f')
	digest=${digest:0:$len}
	if ! [[ $digest =~ ^[0-9a-f]+$ ]] || [ "${#digest}" -ne "$len" ]; then
		echo "pinpipe-userdata: $file holds no $algo digest" >&2
		return 1
	fi
	echo "$digest"
}

# fetch_verified URL FILE ALGO DIGEST CHECKSUM_URL: downloads URL to FILE and keeps it only if
# its ALGO digest is DIGEST. An empty DIGEST (a version deployed unpinned) is read from the
# publisher's checksum file at CHECKSUM_URL; with neither, the file is kept unchecked.
fetch_verified() {
	local url=$1 out=$2 algo=$3 want=$4 sums=$5
	download "$url" "$out.unverified" || return
	if [ -z "$want" ] && [ -n "$sums" ]; then
		echo "pinpipe-userdata: WARNING: $url is not pinned; checking it against $sums"
		if ! download "$sums" "$out.sums" || ! want=$(published_digest "$algo" "$out.sums"); then
			echo "pinpipe-userdata: no $algo digest for $url from $sums" >&2
			rm -f "$out.unverified" "$out.sums"
			return 1
		fi
		rm -f "$out.sums"
	fi
	if [ -z "$want" ]; then
		echo "pinpipe-userdata: WARNING: $url is not pinned and has no published checksum: not checked"
	elif ! echo "$want  $out.unverified" | "${algo}sum" --check --strict --quiet -; then
		echo "pinpipe-userdata: $url: $algo is $("${algo}sum" <"$out.unverified" | cut -d' ' -f1), want $want" >&2
		rm -f "$out.unverified"
		return 1
	fi
	mv "$out.unverified" "$out" || return
}

# unpack URL DIR ALGO DIGEST CHECKSUM_URL: download a verified .tgz once and unpack it into DIR,
# without its top-level folder.
unpack() {
	local url=$1 dir=$2 marker=$2/.pinpipe-source tmp
	if [ -f "$marker" ] && [ "$(cat "$marker")" = "$url $4" ]; then
		echo "pinpipe-userdata: $dir already holds $url"
		return
	fi
	tmp=$(mktemp -d /tmp/pinpipe-XXXXXX)
	if ! fetch_verified "$url" "$tmp/archive.tgz" "$3" "$4" "$5"; then
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	tar -xzf "$tmp/archive.tgz" -C "$dir" --strip-components=1
	rm -rf "$tmp"
	echo "$url $4" >"$marker"
}

# rest_get PATH: the REST proxy's answer to GET PATH (fails on a non-2xx status).
rest_get() {
	curl --fail --silent --show-error --max-time 60 "http://127.0.0.1:${REST_PORT}$1"
}

# has_topics TEXT: TEXT names every topic of this user (as a JSON string or a line).
has_topics() {
	local t
	for t in $TOPICS; do
		if ! grep -qE "(^|\")${t//./\\.}(\"|$)" <<<"$1"; then
			echo "pinpipe-userdata: topic $t is missing from: $1" >&2
			return 1
		fi
	done
}

# wait_for_topics: polls GET /topics until the REST proxy lists this user's topics (it asks the
# brokers, over IAM, for every call), or READY_TIMEOUT seconds pass.
wait_for_topics() {
	local deadline=$((SECONDS + READY_TIMEOUT)) topics=""
	while [ "$SECONDS" -lt "$deadline" ]; do
		if topics=$(rest_get /topics 2>&1) && has_topics "$topics" 2>/dev/null; then
			echo "pinpipe-userdata: the REST proxy lists $topics"
			return 0
		fi
		sleep "$READY_POLL"
	done
	echo "pinpipe-userdata: GET /topics after ${READY_TIMEOUT}s: $topics" >&2
	has_topics "$topics"
}

# produce_probe: writes one probe record to PROBE_TOPIC through the REST proxy and checks that
# the proxy reports it stored (an offset, error_code null). The batch job quarantines it (it has
# no index), so it never reaches the results.
produce_probe() {
	local body answer
	body="{\"records\":[{\"value\":{\"pinpipe_probe\":\"readiness check of $(hostname) at $(date -u +%FT%TZ)\"}}]}"
	answer=$(curl --fail --silent --show-error --max-time 60 -X POST \
		-H 'Content-Type: application/vnd.kafka.json.v2+json' --data "$body" \
		"http://127.0.0.1:${REST_PORT}/topics/${PROBE_TOPIC}")
	if ! grep -qE '"offset":[0-9]+,"error_code":null' <<<"$answer"; then
		echo "pinpipe-userdata: the probe to $PROBE_TOPIC was not stored: $answer" >&2
		return 1
	fi
	echo "pinpipe-userdata: probe stored: $answer"
}

# kafka_cli TOOL ARGS...: runs a Kafka CLI tool over IAM auth, as README.md shows.
kafka_cli() {
	local tool=$1
	shift
	CLASSPATH="$KAFKA_HOME/libs/$IAM_JAR" timeout 180 "$KAFKA_HOME/bin/$tool" \
		--bootstrap-server "$BOOTSTRAP_SERVERS" "$@"
}

main() {
	trap on_exit EXIT

	log "installing cfn-signal, Java, tar and gzip"
	dnf install -y -q aws-cfn-bootstrap java-17-amazon-corretto-headless tar gzip

	log "installing the Kafka client from $KAFKA_URL (sha512 checked)"
	unpack "$KAFKA_URL" "$KAFKA_HOME" sha512 "$KAFKA_SHA512" "$KAFKA_SHA512_URL"
	log "installing aws-msk-iam-auth from $MSK_IAM_AUTH_URL (sha256 checked)"
	if [ ! -f "$KAFKA_HOME/libs/$IAM_JAR" ] || [ "$(cat "$KAFKA_HOME/libs/$IAM_JAR.source" 2>/dev/null)" != "$MSK_IAM_AUTH_URL" ]; then
		fetch_verified "$MSK_IAM_AUTH_URL" "$KAFKA_HOME/libs/$IAM_JAR" sha256 "$MSK_IAM_AUTH_SHA256" "$MSK_IAM_AUTH_SHA256_URL"
		echo "$MSK_IAM_AUTH_URL" >"$KAFKA_HOME/libs/$IAM_JAR.source"
	fi

	log "installing the Confluent REST Proxy from $CONFLUENT_URL (sha256 checked)"
	unpack "$CONFLUENT_URL" "$CONFLUENT_HOME" sha256 "$CONFLUENT_SHA256" ""

	# The IAM login module, as the original's client.properties; awsRoleArn is this instance's
	# own role (its trust policy lets it assume itself for exactly this).
	local jaas handler
	jaas="software.amazon.msk.auth.iam.IAMLoginModule required awsRoleArn=\"${ROLE_ARN}\" awsStsRegion=\"${AWS_REGION}\";"
	handler="software.amazon.msk.auth.iam.IAMClientCallbackHandler"

	log "writing $KAFKA_HOME/config/client.properties"
	cat >"$KAFKA_HOME/config/client.properties" <<PROPERTIES
# SASL/IAM over TLS to the MSK cluster. Use with the Kafka CLI tools, e.g.
#   CLASSPATH=$KAFKA_HOME/libs/$IAM_JAR $KAFKA_HOME/bin/kafka-console-consumer.sh \\
#     --bootstrap-server \$(cat /etc/pinpipe/bootstrap-servers) \\
#     --consumer.config $KAFKA_HOME/config/client.properties --topic <topic> --from-beginning \\
#     --group ${GROUP_PREFIX}<name>
# This instance's role may read and write the topics ${TOPICS// /, } and use the consumer
# groups ${GROUP_PREFIX}* (and console-consumer-*, the console consumer's own without --group).
security.protocol=SASL_SSL
sasl.mechanism=AWS_MSK_IAM
sasl.jaas.config=${jaas}
sasl.client.callback.handler.class=${handler}
PROPERTIES

	mkdir -p /etc/pinpipe /etc/kafka-rest
	echo "$BOOTSTRAP_SERVERS" >/etc/pinpipe/bootstrap-servers

	log "writing /etc/kafka-rest/kafka-rest.properties"
	# No zookeeper.connect: REST Proxy v2 talks to the brokers only, and MSK's ZooKeeper is not
	# reachable over IAM auth.
	cat >/etc/kafka-rest/kafka-rest.properties <<PROPERTIES
listeners=http://0.0.0.0:${REST_PORT}
bootstrap.servers=${BOOTSTRAP_SERVERS}
client.security.protocol=SASL_SSL
client.sasl.mechanism=AWS_MSK_IAM
client.sasl.jaas.config=${jaas}
client.sasl.client.callback.handler.class=${handler}
# Wait for every in-sync replica before answering the producer: an acknowledged record is kept.
producer.acks=all
PROPERTIES

	if ! id "$REST_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /sbin/nologin "$REST_USER"
	fi
	mkdir -p /var/log/kafka-rest
	chown "$REST_USER:" /var/log/kafka-rest

	log "installing the kafka-rest service"
	cat >/etc/systemd/system/kafka-rest.service <<UNIT
[Unit]
Description=Confluent REST Proxy for the pinpipe MSK cluster
After=network-online.target
Wants=network-online.target

[Service]
User=${REST_USER}
Environment=CLASSPATH=${KAFKA_HOME}/libs/${IAM_JAR}
Environment=LOG_DIR=/var/log/kafka-rest
Environment=KAFKAREST_HEAP_OPTS=-Xmx512M
ExecStart=${CONFLUENT_HOME}/bin/kafka-rest-start /etc/kafka-rest/kafka-rest.properties
Restart=on-failure
RestartSec=5
NoNewPrivileges=true
ProtectSystem=full
PrivateTmp=true

[Install]
WantedBy=multi-user.target
UNIT
	systemctl daemon-reload
	systemctl enable kafka-rest.service
	systemctl restart kafka-rest.service

	log "waiting for the REST proxy to list the topics ${TOPICS// /, } (GET /topics asks the brokers over IAM)"
	wait_for_topics
	log "producing a probe record to ${PROBE_TOPIC} through the REST proxy (WriteData over IAM)"
	produce_probe
	log "listing the topics with kafka-topics.sh over IAM"
	has_topics "$(kafka_cli kafka-topics.sh --command-config "$KAFKA_HOME/config/client.properties" --list)"
	log "reading ${PROBE_TOPIC} with kafka-console-consumer.sh in group ${GROUP_PREFIX}readiness over IAM"
	if [ -z "$(kafka_cli kafka-console-consumer.sh --consumer.config "$KAFKA_HOME/config/client.properties" \
		--topic "$PROBE_TOPIC" --group "${GROUP_PREFIX}readiness" --from-beginning --max-messages 1 \
		--timeout-ms 90000)" ]; then
		echo "pinpipe-userdata: kafka-console-consumer read nothing from $PROBE_TOPIC" >&2
		return 1
	fi

	log "ready"
	signal 0 "REST proxy on port ${REST_PORT} lists the topics and stored a probe record over IAM; the Kafka CLI lists and reads them over IAM"
	echo "pinpipe-userdata: done: REST proxy on port ${REST_PORT}"
}

# Run when executed (cloud-init runs the user data as a program); tests source it for its
# functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
