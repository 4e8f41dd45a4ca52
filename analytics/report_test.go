package analytics

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// chromium runs headless Chromium on a file with extra flags, every request sent through a
// counting proxy on loopback (so nothing reaches the network), and returns its stdout, its
// console lines and the number of requests the page made.
func chromium(t *testing.T, bin, file string, extra ...string) (stdout string, console []string, requests int64) {
	t.Helper()
	var n atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Chromium's own services (component updates, time sync, accounts) call Google even
		// with background networking off; they are not the page's requests.
		host := r.Host
		if h, _, ok := strings.Cut(host, ":"); ok {
			host = h
		}
		for _, svc := range []string{".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com"} {
			if strings.HasSuffix(host, svc) {
				http.Error(w, "no network in tests", http.StatusForbidden)
				return
			}
		}
		n.Add(1)
		t.Logf("page request: %s %s", r.Method, r.URL)
		http.Error(w, "no network in reports", http.StatusForbidden)
	}))
	defer proxy.Close()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--proxy-server=" + strings.TrimPrefix(proxy.URL, "http://"), "--proxy-bypass-list=<-loopback>"}, extra...)
	args = append(args, "file://"+file)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "chromium: %s", errb.String())
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			console = append(console, l)
		}
	}
	return out.String(), console, n.Load()
}

// TestReportInChromium opens the golden run's report in headless Chromium: no console message
// (the report has no script, so any is an error or a blocked request), no request leaves the
// page, all eight charts are in the DOM with their marks, and the screenshot shows them.
func TestReportInChromium(t *testing.T) {
	bin := testenv.Need(t, "chromium")
	in := t.TempDir()
	writeObjects(t, in, goldenObjects())
	rep, _ := runGolden(t, in)

	// The checks can fail: a page under the same policy that logs an error and asks for an image
	// from the network is caught by both.
	bad := filepath.Join(t.TempDir(), "bad.html")
	require.NoError(t, os.WriteFile(bad, []byte(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy"
content="default-src 'none'; script-src 'unsafe-inline'"></head><body><script>console.error("boom")</script>
<img src="http://192.0.2.1/x.png"></body></html>`), 0o644))
	_, console, _ := chromium(t, bin, bad, "--dump-dom")
	assert.Len(t, console, 2, "the control page's console error and blocked image are seen")
	open := filepath.Join(t.TempDir(), "open.html")
	require.NoError(t, os.WriteFile(open, []byte(`<!DOCTYPE html><img src="http://192.0.2.1/x.png">`), 0o644))
	_, _, requests := chromium(t, bin, open, "--dump-dom")
	assert.Positive(t, requests, "a page without the policy does reach the (proxied) network")

	dom, console, requests := chromium(t, bin, rep.ReportPath, "--dump-dom")
	assert.Empty(t, console)
	assert.Zero(t, requests)
	charts := regexp.MustCompile(`(?s)<svg class="chart wide".*?</svg>`).FindAllString(dom, -1)
	require.Len(t, charts, len(Outputs))
	for i, c := range charts {
		marks := strings.Count(c, "<rect") + strings.Count(c, "<path")
		assert.Positive(t, marks, "chart %d (%s) has no marks", i, Outputs[i].Name)
	}
	assert.NotContains(t, dom, "http://")
	assert.NotContains(t, dom, "https://")

	shot := filepath.Join(t.TempDir(), "report.png")
	_, console, requests = chromium(t, bin, rep.ReportPath, "--window-size=1000,6000", "--hide-scrollbars", "--screenshot="+shot)
	assert.Empty(t, console)
	assert.Zero(t, requests)
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	// Count the pixels of the chart colour (#2563eb) in each horizontal band of the page: every
	// chart draws a band of them, so the page is not blank and no chart is missing.
	bands := chartBands(img, 0x25, 0x63, 0xeb)
	t.Logf("%d bands of chart colour", bands)
	assert.Equal(t, len(Outputs), bands, "bands of chart colour in the screenshot")
}

// chartBands counts separate vertical runs of rows that contain at least 20 pixels near colour
// (r, g, b), ignoring the header gradient at the top.
func chartBands(img image.Image, r, g, b uint8) int {
	bounds := img.Bounds()
	near := func(x, y int) bool {
		cr, cg, cb, _ := img.At(x, y).RGBA()
		d := func(a uint32, e uint8) int { v := int(a>>8) - int(e); return v * v }
		return d(cr, r)+d(cg, g)+d(cb, b) < 300
	}
	bands, in := 0, false
	for y := bounds.Min.Y + 260; y < bounds.Max.Y; y++ {
		n := 0
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			if near(x, y) {
				n++
			}
		}
		switch {
		case n >= 20 && !in:
			bands++
			in = true
		case n < 20 && in:
			// A band ends only after a clear gap, so the bars of one chart count once.
			gap := true
			for yy := y; yy < min(y+60, bounds.Max.Y); yy++ {
				m := 0
				for x := bounds.Min.X; x < bounds.Max.X; x++ {
					if near(x, yy) {
						m++
					}
				}
				if m >= 20 {
					gap = false
					break
				}
			}
			if gap {
				in = false
			}
		}
	}
	return bands
}
