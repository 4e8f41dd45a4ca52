#!/bin/bash
# Boot script of the Kafka client and REST proxy instance (Amazon Linux 2023), replacing the
# original's hand-run install steps. stacks/ingestion.go renders it: it puts the settings checked
# below in front of this text as shell assignments. It can run again on the same machine: every
# step is skipped or redone to the same result.
#
# What it does: installs Java, the Kafka client of the cluster's version with aws-msk-iam-auth
# (for kafka-topics.sh / kafka-console-consumer.sh over IAM auth, as in the original), and the
# Confluent REST Proxy; writes client.properties and kafka-rest.properties for SASL/IAM over TLS
# with the instance role's ARN and the cluster's bootstrap string; runs the REST proxy as a
# systemd service that restarts on failure.
set -euo pipefail

: "${KAFKA_VERSION:?}" "${SCALA_VERSION:?}" "${MSK_IAM_AUTH_VERSION:?}" "${CONFLUENT_VERSION:?}"
: "${BOOTSTRAP_SERVERS:?}" "${ROLE_ARN:?}" "${REST_PORT:?}" "${AWS_REGION:?}"

KAFKA_HOME=/opt/kafka
CONFLUENT_HOME=/opt/confluent
REST_USER=kafka-rest
IAM_JAR="aws-msk-iam-auth-${MSK_IAM_AUTH_VERSION}-all.jar"

log() { echo "pinpipe-userdata: $*"; }

# download URL FILE: fetch over HTTPS with retries (the NAT gateway may still be warming up).
download() {
  curl --fail --silent --show-error --location --proto '=https' --retry 10 --retry-delay 6 \
    --retry-all-errors --output "$2.part" "$1"
  mv "$2.part" "$2"
}

# unpack URL DIR: download a .tgz once and unpack it into DIR, without its top-level folder.
unpack() {
  local url=$1 dir=$2 marker=$2/.pinpipe-source
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$url" ]; then
    log "$dir already holds $url"
    return
  fi
  local tmp
  tmp=$(mktemp /tmp/pinpipe-XXXXXX.tgz)
  download "$url" "$tmp"
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -xzf "$tmp" -C "$dir" --strip-components=1
  rm -f "$tmp"
  echo "$url" >"$marker"
}

log "installing Java"
dnf install -y -q java-17-amazon-corretto-headless tar gzip

log "installing the Kafka ${KAFKA_VERSION} client"
unpack "https://archive.apache.org/dist/kafka/${KAFKA_VERSION}/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.tgz" "$KAFKA_HOME"
if [ ! -f "$KAFKA_HOME/libs/$IAM_JAR" ]; then
  download "https://github.com/aws/aws-msk-iam-auth/releases/download/v${MSK_IAM_AUTH_VERSION}/${IAM_JAR}" "$KAFKA_HOME/libs/$IAM_JAR"
fi

log "installing the Confluent REST Proxy ${CONFLUENT_VERSION}"
unpack "https://packages.confluent.io/archive/${CONFLUENT_VERSION%.*}/confluent-community-${CONFLUENT_VERSION}.tar.gz" "$CONFLUENT_HOME"

# The IAM login module, as the original's client.properties; awsRoleArn is this instance's own
# role (its trust policy lets it assume itself for exactly this).
jaas="software.amazon.msk.auth.iam.IAMLoginModule required awsRoleArn=\"${ROLE_ARN}\" awsStsRegion=\"${AWS_REGION}\";"
handler="software.amazon.msk.auth.iam.IAMClientCallbackHandler"

log "writing $KAFKA_HOME/config/client.properties"
cat >"$KAFKA_HOME/config/client.properties" <<PROPERTIES
# SASL/IAM over TLS to the MSK cluster. Use with the Kafka CLI tools, e.g.
#   CLASSPATH=$KAFKA_HOME/libs/$IAM_JAR $KAFKA_HOME/bin/kafka-console-consumer.sh \\
#     --bootstrap-server \$(cat /etc/pinpipe/bootstrap-servers) \\
#     --consumer.config $KAFKA_HOME/config/client.properties --topic <topic> --from-beginning
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
log "done: REST proxy on port ${REST_PORT}"
