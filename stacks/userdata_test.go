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
