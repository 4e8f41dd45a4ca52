package stacks

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// sampleSettings are the settings as the stack renders them, with deploy-time values filled in.
func sampleSettings() map[string]string {
	cfg := DefaultConfig()
	k, c, i := cfg.KafkaDownload(), cfg.ConfluentDownload(), cfg.MskIamAuthDownload()
	return map[string]string{
		"KAFKA_URL":               k.URL,
		"KAFKA_SHA512":            k.Digest,
		"KAFKA_SHA512_URL":        unpinnedChecksumURL(k),
		"CONFLUENT_URL":           c.URL,
		"CONFLUENT_SHA256":        c.Digest,
		"MSK_IAM_AUTH_URL":        i.URL,
		"MSK_IAM_AUTH_SHA256":     i.Digest,
		"MSK_IAM_AUTH_SHA256_URL": unpinnedChecksumURL(i),
		"BOOTSTRAP_SERVERS":       "b-1.pinpipe.abc123.c2.kafka.us-east-1.amazonaws.com:9098,b-2.pinpipe.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
		"ROLE_ARN":                "arn:aws:iam::123456789012:role/pinpipe-demo-rest-proxy",
		"REST_PORT":               "8082",
		"AWS_REGION":              "us-east-1",
		"TOPICS":                  "demo.pin demo.geo demo.user",
		"PROBE_TOPIC":             "demo.pin",
		"GROUP_PREFIX":            "demo.",
		"CFN_STACK":               "Pinpipe-demo-Ingestion",
		"CFN_RESOURCE":            "ProxyCB0DFB71c0ffee0123456789",
	}
}

func sampleUserData() string { return restProxyScript(sampleSettings()) }

// The script in the repository and the rendered script both pass bash -n and shellcheck.
func TestUserDataLint(t *testing.T) {
	bash := testenv.Need(t, "bash")
	shellcheck := testenv.Need(t, "shellcheck")
	rendered := filepath.Join(t.TempDir(), "rendered.sh")
	if err := os.WriteFile(rendered, []byte(sampleUserData()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{filepath.Join("userdata", "rest-proxy.sh"), rendered} {
		if out, err := exec.Command(bash, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", script, err, out)
		}
		if out, err := exec.Command(shellcheck, "--severity=style", "--shell=bash", script).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", script, err, out)
		}
	}
}

func TestUserDataRendering(t *testing.T) {
	s := sampleUserData()
	if !strings.HasPrefix(s, "#!/bin/bash\n") || strings.Count(s, "#!/bin/bash") != 1 {
		t.Errorf("rendered script must start with the one shebang:\n%.200s", s)
	}
	for _, want := range []string{
		"BOOTSTRAP_SERVERS='b-1.pinpipe",
		"ROLE_ARN='arn:aws:iam::123456789012:role/pinpipe-demo-rest-proxy'",
		"awsRoleArn=\\\"${ROLE_ARN}\\\"",
		"Restart=on-failure",
		"sasl.mechanism=AWS_MSK_IAM",
		// The default versions' pinned digests, checked before anything is unpacked.
		"KAFKA_SHA512='98d20f475bccc11eb3cf05362112c788eea7bfc88abddba66cfcfb48880d3bb97918a90d44eb7c1720527bebca93dd231002b5159876f6ee8b7fcd91cc1b0644'",
		"CONFLUENT_SHA256='ae9a81f3cc914a21b977abeff1fa4778bf79a2c2dc8f5fc822e2da15d960bb92'",
		"KAFKA_URL='https://archive.apache.org/dist/kafka/3.6.0/kafka_2.13-3.6.0.tgz'",
		"CONFLUENT_URL='https://packages.confluent.io/archive/7.6/confluent-community-7.6.1.tar.gz'",
		// aws-msk-iam-auth has no pin here: it is checked against AWS's published .sha256.
		"MSK_IAM_AUTH_SHA256_URL='https://github.com/aws/aws-msk-iam-auth/releases/download/v2.3.2/aws-msk-iam-auth-2.3.2-all.jar.sha256'",
		"signal 0 ",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered script lacks %q", want)
		}
	}
	// Settings come before the script's own checks of them.
	if strings.Index(s, "KAFKA_URL='") > strings.Index(s, `: "${KAFKA_URL:?}"`) {
		t.Error("settings are rendered after the script checks them")
	}
	defer func() {
		if recover() == nil {
			t.Error("a value with a single quote was rendered")
		}
	}()
	restProxyScript(map[string]string{"X": "it's"})
}

// shellEnv runs the user data's functions (the script sourced, main not run) in bash, with a
// fake curl and cfn-signal first on PATH: curl serves URLs from files, cfn-signal records its
// arguments. It returns the combined output and the exit error.
type shellEnv struct {
	t       *testing.T
	dir     string // files served by the fake curl, by URL base name
	signals string // where the fake cfn-signal writes its arguments
	script  string
	bin     string
}

func newShellEnv(t *testing.T, settings map[string]string) *shellEnv {
	testenv.Need(t, "bash")
	e := &shellEnv{t: t, dir: t.TempDir(), bin: t.TempDir()}
	e.signals = filepath.Join(e.bin, "signals.log")
	e.script = filepath.Join(e.bin, "userdata.sh")
	if err := os.WriteFile(e.script, []byte(restProxyScript(settings)), 0o644); err != nil {
		t.Fatal(err)
	}
	// A curl that answers https:// URLs from the served directory (the archive hosts), and
	// hands anything else (the REST proxy on 127.0.0.1) to the real curl.
	realCurl := testenv.Need(t, "curl")
	fake := `#!/bin/bash
out="" url=""
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--output) out=$2; shift 2 ;;
	--retry|--retry-delay|--proto|--max-time|-X|-H|--data) shift 2 ;;
	-*) shift ;;
	*) url=$1; shift ;;
	esac
done
case $url in
https://*)
	f="` + e.dir + `/$(basename "$url")"
	[ -f "$f" ] || { echo "curl: (22) 404 $url" >&2; exit 22; }
	cp "$f" "$out" ;;
*) exec ` + realCurl + ` "${args[@]}" ;;
esac
`
	if err := os.WriteFile(filepath.Join(e.bin, "curl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	signal := "#!/bin/bash\necho \"$*\" >>" + e.signals + "\n"
	if err := os.WriteFile(filepath.Join(e.bin, "cfn-signal"), []byte(signal), 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// serve makes the fake curl answer URL with content.
func (e *shellEnv) serve(url string, content []byte) {
	if err := os.WriteFile(filepath.Join(e.dir, filepath.Base(url)), content, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// run runs commands after sourcing the script, with CFN_SIGNAL pointing at the fake.
func (e *shellEnv) run(commands string) (string, error) {
	cmd := exec.Command("bash", "-c", "source "+e.script+"\nCFN_SIGNAL="+filepath.Join(e.bin, "cfn-signal")+"\n"+commands)
	cmd.Env = append(os.Environ(), "PATH="+e.bin+":"+os.Getenv("PATH"), "READY_TIMEOUT=3", "READY_POLL=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *shellEnv) signalled() string {
	b, _ := os.ReadFile(e.signals)
	return string(b)
}

func sha512Hex(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) }
func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// gpgPrintMD is Apache's .sha512 layout (gpg --print-md SHA512): upper-case groups of 8 digits,
// wrapped, after the file name.
func gpgPrintMD(name, digest string) string {
	up := strings.ToUpper(digest)
	var groups []string
	for i := 0; i < len(up); i += 8 {
		groups = append(groups, up[i:i+8])
	}
	pad := strings.Repeat(" ", len(name)+2)
	return name + ": " + strings.Join(groups[:6], " ") + "\n" + pad + strings.Join(groups[6:12], " ") + "\n" + pad + strings.Join(groups[12:], " ") + "\n"
}

// A download is kept only when its digest is the pinned one, or (unpinned) the one its
// publisher's checksum file states; a mismatch fails the step, removes the file and makes the
// boot signal failure to CloudFormation.
func TestUserDataVerifiesDownloads(t *testing.T) {
	e := newShellEnv(t, sampleSettings())
	archive := []byte("the Kafka client archive")
	const url = "https://archive.apache.org/dist/kafka/3.6.0/kafka_2.13-3.6.0.tgz"
	e.serve(url, archive)
	out := filepath.Join(t.TempDir(), "kafka.tgz")

	for _, tc := range []struct {
		name, digest, sums, sumsContent string
		ok                              bool
	}{
		{name: "pinned, matching", digest: sha512Hex(archive), ok: true},
		{name: "pinned, upper case", digest: strings.ToUpper(sha512Hex(archive)), ok: true},
		{name: "pinned, other bytes", digest: sha512Hex([]byte("tampered")), ok: false},
		{name: "apache .sha512 layout", sums: url + ".sha512", sumsContent: gpgPrintMD("kafka_2.13-3.6.0.tgz", sha512Hex(archive)), ok: true},
		{name: "sha512sum layout", sums: url + ".sha512", sumsContent: sha512Hex(archive) + "  kafka_2.13-3.6.0.tgz\n", ok: true},
		{name: "published digest of other bytes", sums: url + ".sha512", sumsContent: gpgPrintMD("kafka_2.13-3.6.0.tgz", sha512Hex([]byte("x"))), ok: false},
		{name: "checksum file is an error page", sums: url + ".sha512", sumsContent: "<html>404 Not Found</html>", ok: false},
		{name: "checksum file missing", sums: url + ".missing", ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			if tc.sumsContent != "" {
				e.serve(tc.sums, []byte(tc.sumsContent))
			}
			got, err := e.run(fmt.Sprintf("fetch_verified %s %s sha512 '%s' '%s'", url, out, tc.digest, tc.sums))
			_, statErr := os.Stat(out)
			if tc.ok {
				if err != nil || statErr != nil {
					t.Fatalf("refused a good download: %v %v\n%s", err, statErr, got)
				}
				b, _ := os.ReadFile(out)
				if !bytes.Equal(b, archive) {
					t.Errorf("kept %q", b)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted a bad download:\n%s", got)
			}
			if statErr == nil {
				t.Error("the refused download was left in place")
			}
			if _, err := os.Stat(out + ".unverified"); err == nil {
				t.Error("the refused download was left beside it")
			}
		})
	}

	// sha256 files as AWS publishes them for aws-msk-iam-auth: the bare digest.
	jar := []byte("the aws-msk-iam-auth jar")
	const jarURL = "https://github.com/aws/aws-msk-iam-auth/releases/download/v2.3.2/aws-msk-iam-auth-2.3.2-all.jar"
	e.serve(jarURL, jar)
	e.serve(jarURL+".sha256", []byte(sha256Hex(jar)))
	if got, err := e.run(fmt.Sprintf("fetch_verified %s %s sha256 '' %s.sha256", jarURL, out, jarURL)); err != nil {
		t.Errorf("jar with its published .sha256: %v\n%s", err, got)
	}

	// A mismatch during the boot makes it signal failure, naming the step.
	got, err := e.run(fmt.Sprintf("trap on_exit EXIT\nlog 'installing the Kafka client'\nfetch_verified %s %s sha512 %s ''\necho not reached",
		url, out, sha512Hex([]byte("tampered"))))
	if err == nil || strings.Contains(got, "not reached") {
		t.Fatalf("the boot went on after a bad checksum:\n%s", got)
	}
	sig := e.signalled()
	if !strings.Contains(sig, "--exit-code 1") || !strings.Contains(sig, "while: installing the Kafka client") ||
		!strings.Contains(sig, "--resource ProxyCB0DFB71c0ffee0123456789") || !strings.Contains(sig, "--stack Pinpipe-demo-Ingestion") {
		t.Errorf("cfn-signal got %q; want a failure naming the step, the stack and the resource", sig)
	}
}

// unpack extracts a verified archive without its top folder, and does not fetch it again.
func TestUserDataUnpack(t *testing.T) {
	e := newShellEnv(t, sampleSettings())
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	content := []byte("#!/bin/sh\necho kafka-topics\n")
	tw.WriteHeader(&tar.Header{Name: "kafka_2.13-3.6.0/bin/kafka-topics.sh", Mode: 0o755, Size: int64(len(content))})
	tw.Write(content)
	tw.Close()
	gz.Close()
	const url = "https://archive.apache.org/dist/kafka/3.6.0/kafka_2.13-3.6.0.tgz"
	e.serve(url, buf.Bytes())
	dir := filepath.Join(t.TempDir(), "kafka")
	digest := sha512Hex(buf.Bytes())
	if out, err := e.run(fmt.Sprintf("unpack %s %s sha512 %s ''", url, dir, digest)); err != nil {
		t.Fatalf("unpack: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "bin", "kafka-topics.sh")); err != nil || !bytes.Equal(b, content) {
		t.Fatalf("unpacked %q, %v", b, err)
	}
	os.Remove(filepath.Join(e.dir, filepath.Base(url))) // a second run must not download again
	if out, err := e.run(fmt.Sprintf("unpack %s %s sha512 %s ''", url, dir, digest)); err != nil || !strings.Contains(out, "already holds") {
		t.Errorf("second unpack: %v\n%s", err, out)
	}
	// A different pin is a different install: it downloads again (and here fails, offline).
	if out, err := e.run(fmt.Sprintf("unpack %s %s sha512 %s ''", url, dir, sha512Hex([]byte("other")))); err == nil {
		t.Errorf("a changed pin reused the old install:\n%s", out)
	}
}

// restProxyFake answers like Confluent REST Proxy v2 (DESIGN.md's HTTP contract): GET /topics,
// POST /topics/{t} with per-record offsets or errors.
type restProxyFake struct {
	mu        sync.Mutex
	topics    string
	produce   string
	status    int
	gotBodies []string
}

func (f *restProxyFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.kafka.v2+json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/topics":
		if f.status != 0 {
			w.WriteHeader(f.status)
			fmt.Fprint(w, `{"error_code":50002,"message":"Kafka error: Timed out waiting for a node assignment."}`)
			return
		}
		fmt.Fprint(w, f.topics)
	case r.Method == http.MethodPost && r.URL.Path == "/topics/demo.pin":
		if r.Header.Get("Content-Type") != "application/vnd.kafka.json.v2+json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			fmt.Fprint(w, `{"error_code":415,"message":"HTTP 415 Unsupported Media Type"}`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.gotBodies = append(f.gotBodies, string(b))
		fmt.Fprint(w, f.produce)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":404,"message":"HTTP 404 Not Found"}`)
	}
}

// The readiness checks pass only when the REST proxy lists the user's three topics and reports
// the probe record stored; a proxy that cannot reach Kafka, a missing topic or a refused write
// fail them.
func TestUserDataReadinessChecks(t *testing.T) {
	fake := &restProxyFake{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	settings := sampleSettings()
	settings["REST_PORT"] = port
	e := newShellEnv(t, settings)

	stored := `{"offsets":[{"partition":0,"offset":12,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}`
	refused := `{"offsets":[{"partition":null,"offset":null,"error_code":40301,"error":"Not authorized to access topics: [demo.pin]"}],"key_schema_id":null,"value_schema_id":null}`
	all := `["__amazon_msk_canary","demo.geo","demo.pin","demo.user"]`
	for _, tc := range []struct {
		name, topics, produce string
		status                int
		ok                    bool
	}{
		{"ready", all, stored, 0, true},
		{"kafka unreachable", all, stored, http.StatusInternalServerError, false},
		{"a topic missing", `["demo.geo","demo.pin","demo.pinx"]`, stored, 0, false},
		{"a prefix is not the topic", `["demo.pin2","demo.geo","demo.user"]`, stored, 0, false},
		{"write refused", all, refused, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.mu.Lock()
			fake.topics, fake.produce, fake.status, fake.gotBodies = tc.topics, tc.produce, tc.status, nil
			fake.mu.Unlock()
			out, err := e.run("wait_for_topics && produce_probe")
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v, want %v:\n%s", err == nil, tc.ok, out)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if tc.ok && (len(fake.gotBodies) != 1 || !strings.Contains(fake.gotBodies[0], `{"records":[{"value":{"pinpipe_probe":`)) {
				t.Errorf("probe bodies %q", fake.gotBodies)
			}
		})
	}
}

// bootRoot runs the whole boot script (main) as cloud-init would, under a fake root: in a
// user and mount namespace (unshare -rm), /opt, /etc and /var/log are overlays whose writes
// land in upper/ (the test reads what the boot wrote there, the host is untouched), and
// recording stubs first on PATH stand in for what needs a real Amazon Linux host: dnf (whose
// install of aws-cfn-bootstrap puts the recording cfn-signal at /opt/aws/bin, as the package
// does), useradd, id, chown and systemctl. Downloads come from the shellEnv's fake curl; the REST
// proxy is a restProxyFake; the Kafka CLI is the fake archive's scripts, which check they run
// over IAM. Every stub appends to one calls log, in order.
type bootRoot struct {
	*shellEnv
	root, calls string
	fake        *restProxyFake
	settings    map[string]string
	// jar is the aws-msk-iam-auth jar served; kafka and confluent the archives.
	jar, kafka, confluent []byte
}

// tgz is a gzipped tar of files (name → content; names under one top folder), all executable.
func tgz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newBootRoot(t *testing.T) *bootRoot {
	t.Helper()
	unshare := testenv.Need(t, "unshare")
	if out, err := exec.Command(unshare, "-rm", "sh", "-c", "mount -t tmpfs none /mnt").CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("user and mount namespaces (unshare -rm, mount) are not available: %v %s", err, out))
	}
	b := &bootRoot{fake: &restProxyFake{}, root: t.TempDir()}
	srv := httptest.NewServer(b.fake)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	b.calls = filepath.Join(b.root, "calls.log")

	// The Kafka client's CLI, as far as the boot uses it: it refuses to run without the IAM jar on
	// its CLASSPATH and an IAM client config, then answers like the real tools.
	check := `[ -f "$CLASSPATH" ] && [[ $CLASSPATH == */libs/aws-msk-iam-auth-all.jar ]] || { echo "no IAM jar on CLASSPATH" >&2; exit 1; }
cfg=""; group=""; args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[i]} in --command-config|--consumer.config) cfg=${args[i+1]} ;; --group) group=${args[i+1]} ;; esac
done
grep -qx 'sasl.mechanism=AWS_MSK_IAM' "$cfg" && grep -qx 'security.protocol=SASL_SSL' "$cfg" || { echo "not an IAM client config: $cfg" >&2; exit 1; }
`
	b.kafka = tgz(t, map[string]string{
		"kafka_2.13-3.6.0/bin/kafka-topics.sh": "#!/bin/bash\necho \"kafka-topics.sh $*\" >>" + b.calls + "\n" + check +
			"printf '%s\\n' __amazon_msk_canary demo.geo demo.pin demo.user\n",
		"kafka_2.13-3.6.0/bin/kafka-console-consumer.sh": "#!/bin/bash\necho \"kafka-console-consumer.sh $*\" >>" + b.calls + "\n" + check +
			"[[ $group == demo.* ]] || { echo \"group $group is not the user's\" >&2; exit 1; }\n" +
			"[ -f " + filepath.Join(b.root, "consumer-empty") + " ] && exit 0\n" +
			"echo '{\"pinpipe_probe\":\"readiness check\"}'; echo 'Processed a total of 1 messages' >&2\n",
		// The layout of Apache's archive: bin/, libs/ and config/ under one top folder.
		"kafka_2.13-3.6.0/libs/kafka-clients-3.6.0.jar": "jar",
		"kafka_2.13-3.6.0/config/producer.properties":   "bootstrap.servers=localhost:9092\n",
	})
	b.confluent = tgz(t, map[string]string{"confluent-7.6.1/bin/kafka-rest-start": "#!/bin/sh\nexit 1\n"})
	b.jar = []byte("the aws-msk-iam-auth jar")

	b.settings = sampleSettings()
	b.settings["REST_PORT"] = port
	b.settings["KAFKA_SHA512"] = sha512Hex(b.kafka)
	b.settings["CONFLUENT_SHA256"] = sha256Hex(b.confluent)
	b.shellEnv = newShellEnv(t, b.settings)
	b.serve(b.settings["KAFKA_URL"], b.kafka)
	b.serve(b.settings["CONFLUENT_URL"], b.confluent)
	b.serve(b.settings["MSK_IAM_AUTH_URL"], b.jar)
	b.serve(b.settings["MSK_IAM_AUTH_SHA256_URL"], []byte(sha256Hex(b.jar)+"  aws-msk-iam-auth-2.3.2-all.jar\n"))

	users := filepath.Join(b.root, "users")
	stubs := map[string]string{
		// dnf installs nothing; aws-cfn-bootstrap brings cfn-signal, which records its arguments.
		"dnf": `echo "dnf $*" >>` + b.calls + `
[ -f ` + filepath.Join(b.root, "dnf-fails") + ` ] && { echo "Error: Failed to download metadata" >&2; exit 1; }
if [[ " $* " == *" aws-cfn-bootstrap "* ]]; then
	mkdir -p /opt/aws/bin
	printf '#!/bin/bash\necho "cfn-signal $*" >>%s\necho "$*" >>%s\n' ` + b.calls + ` ` + b.signals + ` >/opt/aws/bin/cfn-signal
	chmod +x /opt/aws/bin/cfn-signal
fi`,
		"useradd":   `echo "useradd $*" >>` + b.calls + "\nmkdir -p " + users + " && touch " + users + `/"${!#}"`,
		"id":        `[ -f ` + users + `/"$1" ] && exit 0; [ $# -eq 1 ] && [[ $1 != -* ]] && { echo "id: '$1': no such user" >&2; exit 1; }; exec /usr/bin/id "$@"`,
		"chown":     `echo "chown $*" >>` + b.calls,
		"systemctl": `echo "systemctl $*" >>` + b.calls,
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(b.bin, name), []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// boot runs main under the fake root; the overlays' writes persist in root/upper across boots.
func (b *bootRoot) boot() (string, error) {
	var mounts strings.Builder
	for _, d := range []string{"opt", "etc", "var/log"} {
		upper, work := filepath.Join(b.root, "upper", d), filepath.Join(b.root, "work", d)
		for _, p := range []string{upper, work} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				b.t.Fatal(err)
			}
		}
		fmt.Fprintf(&mounts, "mount -t overlay overlay -o lowerdir=/%s,upperdir=%s,workdir=%s /%s\n", d, upper, work, d)
	}
	cmd := exec.Command("unshare", "-rm", "bash", "-c", "set -e\n"+mounts.String()+"exec bash "+b.script)
	cmd.Env = append(os.Environ(), "PATH="+b.bin+":"+os.Getenv("PATH"), "READY_TIMEOUT=3", "READY_POLL=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// file is what the boot wrote at path (absolute, as on the instance), or "" and false.
func (b *bootRoot) file(path string) (string, bool) {
	raw, err := os.ReadFile(filepath.Join(b.root, "upper", path))
	return string(raw), err == nil
}

func (b *bootRoot) callLog() []string {
	raw, _ := os.ReadFile(b.calls)
	return strings.Split(strings.TrimSpace(string(raw)), "\n")
}

// index is the position of the first call starting with prefix, or -1.
func index(calls []string, prefix string) int {
	for i, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return i
		}
	}
	return -1
}

// properties parses a Java .properties file (key=value lines, # comments).
func properties(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		out[k] = v
	}
	return out
}

// The whole boot, as cloud-init runs it, under a fake root: what it installs and where, the
// properties files and the service unit it writes, the order of its steps, and that it signals
// success once, after every readiness check; then a second boot on the same disk redoes nothing
// it need not.
func TestUserDataBoot(t *testing.T) {
	b := newBootRoot(t)
	s := b.settings
	b.fake.topics = `["__amazon_msk_canary","demo.geo","demo.pin","demo.user"]`
	b.fake.produce = `{"offsets":[{"partition":0,"offset":12,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}`
	out, err := b.boot()
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, out)
	}

	// Software where the service, the README and client.properties say it is.
	for path, want := range map[string]string{
		"/opt/kafka/bin/kafka-topics.sh":                  "",
		"/opt/kafka/libs/aws-msk-iam-auth-all.jar":        string(b.jar),
		"/opt/kafka/libs/aws-msk-iam-auth-all.jar.source": s["MSK_IAM_AUTH_URL"] + "\n",
		"/opt/confluent/bin/kafka-rest-start":             "",
		"/opt/kafka/.pinpipe-source":                      s["KAFKA_URL"] + " " + s["KAFKA_SHA512"] + "\n",
		"/etc/pinpipe/bootstrap-servers":                  s["BOOTSTRAP_SERVERS"] + "\n",
	} {
		got, ok := b.file(path)
		if !ok {
			t.Errorf("the boot did not write %s", path)
		} else if want != "" && got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	jaas := `software.amazon.msk.auth.iam.IAMLoginModule required awsRoleArn="` + s["ROLE_ARN"] + `" awsStsRegion="us-east-1";`
	handler := "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
	client, _ := b.file("/opt/kafka/config/client.properties")
	if p := properties(client); p["security.protocol"] != "SASL_SSL" || p["sasl.mechanism"] != "AWS_MSK_IAM" ||
		p["sasl.jaas.config"] != jaas || p["sasl.client.callback.handler.class"] != handler || len(p) != 4 {
		t.Errorf("client.properties:\n%s", client)
	}
	if !strings.Contains(client, "--group demo.<name>") {
		t.Errorf("client.properties does not show the groups the role allows:\n%s", client)
	}
	rest, _ := b.file("/etc/kafka-rest/kafka-rest.properties")
	want := map[string]string{
		"listeners": "http://0.0.0.0:" + s["REST_PORT"], "bootstrap.servers": s["BOOTSTRAP_SERVERS"],
		"client.security.protocol": "SASL_SSL", "client.sasl.mechanism": "AWS_MSK_IAM", "client.sasl.jaas.config": jaas,
		"client.sasl.client.callback.handler.class": handler, "producer.acks": "all",
	}
	if p := properties(rest); !reflect.DeepEqual(p, want) {
		t.Errorf("kafka-rest.properties = %v\nwant %v", p, want)
	}
	unit, _ := b.file("/etc/systemd/system/kafka-rest.service")
	for _, line := range []string{"User=kafka-rest", "Environment=CLASSPATH=/opt/kafka/libs/aws-msk-iam-auth-all.jar",
		"ExecStart=/opt/confluent/bin/kafka-rest-start /etc/kafka-rest/kafka-rest.properties", "Restart=on-failure",
		"NoNewPrivileges=true", "WantedBy=multi-user.target"} {
		if !strings.Contains(unit, "\n"+line+"\n") {
			t.Errorf("kafka-rest.service lacks %s:\n%s", line, unit)
		}
	}

	// The steps in order, and one signal, success, after the last check.
	calls := b.callLog()
	order := []string{"dnf install -y -q aws-cfn-bootstrap java-17-amazon-corretto-headless tar gzip",
		"useradd --system --no-create-home --shell /sbin/nologin kafka-rest", "chown kafka-rest: /var/log/kafka-rest",
		"systemctl daemon-reload", "systemctl enable kafka-rest.service", "systemctl restart kafka-rest.service",
		"kafka-topics.sh --bootstrap-server " + s["BOOTSTRAP_SERVERS"] + " --command-config /opt/kafka/config/client.properties --list",
		"kafka-console-consumer.sh --bootstrap-server " + s["BOOTSTRAP_SERVERS"] + " --consumer.config /opt/kafka/config/client.properties --topic demo.pin --group demo.readiness",
		"cfn-signal --exit-code 0 "}
	last := -1
	for _, step := range order {
		i := index(calls, step)
		if i <= last {
			t.Errorf("step %q at %d, after %d: calls\n%s", step, i, last, strings.Join(calls, "\n"))
		}
		last = i
	}
	if last != len(calls)-1 {
		t.Errorf("calls after the success signal:\n%s", strings.Join(calls[last:], "\n"))
	}
	sig := b.signalled()
	if strings.Count(sig, "\n") != 1 || !strings.Contains(sig, "--exit-code 0") || !strings.Contains(sig, "--stack Pinpipe-demo-Ingestion") ||
		!strings.Contains(sig, "--resource "+s["CFN_RESOURCE"]) || !strings.Contains(sig, "--region us-east-1") {
		t.Errorf("cfn-signal calls: %q", sig)
	}
	if len(b.fake.gotBodies) != 1 {
		t.Errorf("probe records: %q", b.fake.gotBodies)
	}

	// A second boot on the same disk (the user data runs again): nothing is downloaded again,
	// the user exists, and it signals success again.
	for _, u := range []string{s["KAFKA_URL"], s["CONFLUENT_URL"], s["MSK_IAM_AUTH_URL"]} {
		os.Remove(filepath.Join(b.dir, filepath.Base(u)))
	}
	os.Remove(b.calls)
	os.Remove(b.signals)
	if out, err := b.boot(); err != nil {
		t.Fatalf("second boot: %v\n%s", err, out)
	}
	if calls := b.callLog(); index(calls, "useradd") >= 0 {
		t.Errorf("the second boot added the user again:\n%s", strings.Join(calls, "\n"))
	}
	if sig := b.signalled(); !strings.HasPrefix(sig, "--exit-code 0 ") || strings.Count(sig, "\n") != 1 {
		t.Errorf("second boot signalled %q", sig)
	}
}

// A boot that fails at any step signals failure once, naming the step, and never success; one
// that cannot even install cfn-signal signals nothing (CloudFormation's timeout then fails it).
func TestUserDataBootFailures(t *testing.T) {
	stored := `{"offsets":[{"partition":0,"offset":12,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}`
	for _, tc := range []struct {
		name  string
		setup func(b *bootRoot)
		step  string // in the failure signal; "" = no signal at all
	}{
		{"tampered Kafka archive", func(b *bootRoot) { b.serve(b.settings["KAFKA_URL"], []byte("tampered")) }, "while: installing the Kafka client"},
		{"aws-msk-iam-auth unlike its .sha256", func(b *bootRoot) { b.serve(b.settings["MSK_IAM_AUTH_URL"], []byte("other jar")) }, "while: installing aws-msk-iam-auth"},
		{"Kafka unreachable", func(b *bootRoot) { b.fake.status = http.StatusInternalServerError }, "while: waiting for the REST proxy to list the topics"},
		{"probe refused", func(b *bootRoot) {
			b.fake.produce = `{"offsets":[{"partition":null,"offset":null,"error_code":40301,"error":"Not authorized"}]}`
		}, "while: producing a probe record"},
		{"console consumer reads nothing", func(b *bootRoot) {
			os.WriteFile(filepath.Join(b.root, "consumer-empty"), nil, 0o644)
		}, "while: reading demo.pin with kafka-console-consumer.sh"},
		{"dnf fails", func(b *bootRoot) { os.WriteFile(filepath.Join(b.root, "dnf-fails"), nil, 0o644) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBootRoot(t)
			b.fake.topics = `["demo.geo","demo.pin","demo.user"]`
			b.fake.produce = stored
			tc.setup(b)
			out, err := b.boot()
			if err == nil {
				t.Fatalf("the boot succeeded:\n%s", out)
			}
			sig := b.signalled()
			if strings.Contains(sig, "--exit-code 0") {
				t.Errorf("signalled success: %q", sig)
			}
			if tc.step == "" {
				if sig != "" {
					t.Errorf("signalled %q without cfn-signal installed", sig)
				}
				return
			}
			if strings.Count(sig, "\n") != 1 || !strings.Contains(sig, "--exit-code 1") || !strings.Contains(sig, tc.step) {
				t.Errorf("cfn-signal calls %q; want one failure naming %q\n%s", sig, tc.step, out)
			}
			// A refused download is never unpacked or kept.
			if _, ok := b.file("/opt/kafka/libs/aws-msk-iam-auth-all.jar"); ok && strings.Contains(tc.name, "aws-msk-iam-auth") {
				t.Error("the refused jar was installed")
			}
			if _, ok := b.file("/opt/kafka/bin/kafka-topics.sh"); ok && strings.Contains(tc.name, "Kafka archive") {
				t.Error("the refused archive was unpacked")
			}
		})
	}
}
