package analytics

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/record"
)

// layoutProbe is appended to a test copy of a report (whose policy is relaxed to run it): after
// layout it measures every text of every chart on screen, and lists a text that leaves its chart,
// one that overlaps another, one rendered under 9 px, and a page wider than the window.
const layoutProbe = `<pre id="layout-report"></pre><script>
(() => {
  const out = [], seen = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) out.push("page " + doc.scrollWidth + "px wide in a " + doc.clientWidth + "px window");
  for (const svg of document.querySelectorAll("svg.chart")) {
    if (getComputedStyle(svg).display === "none") continue;
    const name = svg.getAttribute("aria-label"), box = svg.getBoundingClientRect();
    seen.push(name + " " + Math.round(box.width) + "px");
    const texts = [...svg.querySelectorAll("text")], rects = texts.map(t => t.getBoundingClientRect());
    texts.forEach((t, i) => {
      const r = rects[i], what = name + ": \"" + t.textContent + "\"";
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.push("outside its chart: " + what);
      if (r.height < 9) out.push("rendered " + r.height.toFixed(1) + "px high: " + what);
      for (let j = 0; j < i; j++) {
        const q = rects[j];
        if (Math.min(r.right, q.right) - Math.max(r.left, q.left) > 1 && Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top) > 1)
          out.push("overlaps \"" + texts[j].textContent + "\": " + what);
      }
    });
  }
  document.getElementById("layout-report").textContent = JSON.stringify({problems: out, charts: seen});
})();
</script>`

var probeRE = regexp.MustCompile(`(?s)<pre id="layout-report">(.*?)</pre>`)

// probeLayout opens page (with the probe added and its policy relaxed) at width and returns what
// the probe found.
func probeLayout(t *testing.T, bin, page string, width int) (problems, charts []string) {
	t.Helper()
	raw, err := os.ReadFile(page)
	require.NoError(t, err)
	s := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`).ReplaceAllString(string(raw), "")
	s = strings.Replace(s, "</body>", layoutProbe+"</body>", 1)
	probe := filepath.Join(t.TempDir(), "probe.html")
	require.NoError(t, os.WriteFile(probe, []byte(s), 0o644))
	dom, _, _ := chromium(t, bin, probe, "--dump-dom", "--hide-scrollbars", "--window-size="+itoa(width)+",4000")
	m := probeRE.FindStringSubmatch(dom)
	require.NotNil(t, m, "the probe ran")
	var res struct{ Problems, Charts []string }
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(m[1])), &res), m[1])
	return res.Problems, res.Charts
}

func itoa(n int) string { return strconv.Itoa(n) }

// layoutReport is a report with what made the old one overflow: long country and poster names,
// categories with long names, and a titled year range with years missing.
func layoutReport(t *testing.T) string {
	t.Helper()
	res := func(name string, rows ...[]any) *Result {
		for _, o := range Outputs {
			if o.Name == name {
				return &Result{Output: o, Columns: o.Columns, Rows: rows}
			}
		}
		t.Fatalf("no output %s", name)
		return nil
	}
	rep := &BatchReport{Input: "./pinpipe-data/s3", UserID: "demo", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Total: time.Second,
		Kinds: []KindStats{{Kind: record.Pin, Rows: 1}, {Kind: record.Geo, Rows: 2}, {Kind: record.User, Rows: 3}},
		Results: []*Result{
			res("top_category_by_country",
				[]any{"Central African Republic", "christmas", int64(3)}, []any{"Saint Vincent and the Grenadines", "diy-and-crafts", int64(2)},
				[]any{"South Georgia and the South Sandwich Islands", "event-planning", int64(2)}, []any{"Chad", "art", int64(1)}),
			res("top_category_by_year",
				[]any{int64(2018), "event-planning", int64(1)}, []any{int64(2019), "mens-fashion", int64(2)}, []any{int64(2020), "diy-and-crafts", int64(3)}),
			res("top_user_by_country",
				[]any{"Heard Island and McDonald Islands", "Brittany Noelle | Fashion & Lifestyle Blogger", int64(2_400_000)},
				[]any{"Central African Republic", "Ann", int64(10_000)}),
			res("top_country_by_followers", []any{"Heard Island and McDonald Islands", "Brittany Noelle | Fashion & Lifestyle Blogger", int64(2_400_000)}),
			res("median_followers_by_age_group", []any{"18-24", 1500.5}, []any{"25-35", 2000.0}, []any{"36-50", 750.0}, []any{"+50", 12.0}),
			res("users_joined_by_year", []any{int64(2015), int64(1)}, []any{int64(2016), int64(2)}, []any{int64(2017), int64(3)}),
			res("median_followers_by_join_year", []any{int64(2015), 1500.5}, []any{int64(2016), 75000.0}, []any{int64(2017), 12.0}),
			res("median_followers_by_join_year_and_age_group",
				[]any{"18-24", int64(2015), 10.0}, []any{"25-35", int64(2015), 20.0}, []any{"36-50", int64(2016), 30.0}, []any{"+50", int64(2017), 40.0},
				[]any{"18-24", int64(2016), 11.0}),
		}}
	p := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, renderReport(f, rep))
	require.NoError(t, f.Close())
	return p
}

// TestReportLayoutInChromium lays the report out in headless Chromium at 1200 px and at 480 px
// and measures every chart text: none leaves its chart, none overlaps another, none is under
// 9 px, and the page is never wider than the window. Screenshots at both widths are kept in
// $PINPIPE_SCREENSHOTS when it is set, to look at.
func TestReportLayoutInChromium(t *testing.T) {
	bin := testenv.Need(t, "chromium")

	// The probe can fail: a chart whose label runs off its edge is caught.
	bad := filepath.Join(t.TempDir(), "bad.html")
	require.NoError(t, os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body><svg class="chart" aria-label="control" viewBox="0 0 100 40" width="100" height="40">
<text x="90" y="20" style="font-size:12px">Central African Republic · christmas</text><text x="90" y="20" style="font-size:12px">again</text></svg></body></html>`), 0o644))
	problems, _ := probeLayout(t, bin, bad, 1200)
	require.NotEmpty(t, problems)
	assert.Contains(t, problems[0], `outside its chart: control: "Central African Republic · christmas"`)
	assert.Contains(t, strings.Join(problems, "\n"), `overlaps "Central African Republic · christmas": control: "again"`)

	page := layoutReport(t)
	for _, width := range []int{1200, 480} {
		problems, charts := probeLayout(t, bin, page, width)
		assert.Empty(t, problems, "at %d px", width)
		assert.Len(t, charts, len(Outputs), "at %d px one drawing of each chart is shown: %v", width, charts)
		if width == 480 {
			for _, c := range charts {
				assert.Regexp(t, ` 4[0-5]\dpx$`, c, "the narrow drawing fills a phone's width")
			}
		}
		if dir := os.Getenv("PINPIPE_SCREENSHOTS"); dir != "" {
			shot := filepath.Join(dir, "report-"+itoa(width)+".png")
			chromium(t, bin, page, "--hide-scrollbars", "--window-size="+itoa(width)+",5200", "--screenshot="+shot)
			t.Logf("screenshot: %s", shot)
		}
	}

	raw, err := os.ReadFile(page)
	require.NoError(t, err)
	body := string(raw)
	assert.Contains(t, body, "No rows for 2021 and 2022: the data has none in those years.")
	assert.Contains(t, body, ">no rows</text>", "the chart marks the empty years too")
	assert.NotContains(t, body, "…", "labels wrap, they are not cut")
	// Count axes tick in whole numbers.
	yb := regexp.MustCompile(`(?s)<svg class="chart wide" role="img" aria-label="Users joined each year.*?</svg>`).FindString(body)
	require.NotEmpty(t, yb)
	for _, tick := range regexp.MustCompile(`class="axis" text-anchor="end">([^<]+)<`).FindAllStringSubmatch(yb, -1) {
		assert.Regexp(t, `^\d+$`, tick[1], "a count axis tick")
	}
}
