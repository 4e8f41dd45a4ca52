package analytics

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The report is one self-contained HTML file: inline CSS, charts drawn here as inline SVG, no
// script, and a Content-Security-Policy that forbids every request, so it opens offline, from
// an S3 download or an e-mail attachment, and cannot leak anything.

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"fmt":      FormatValue,
	"thousand": thousands,
	"dur":      func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"rows": func(n int) string {
		if n == 1 {
			return "1 row"
		}
		return strconv.Itoa(n) + " rows"
	},
}).Parse(reportTemplate))

// palette is the colour of each series (bars use the first).
var palette = []string{"#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2"}

// maxBars is how many bars a chart shows; the table below it has every row.
const maxBars = 20

type reportSection struct {
	Result *Result
	Chart  template.HTML
	Note   string
}

type reportData struct {
	Rep      *BatchReport
	Sections []reportSection
	Rows     int64
}

// writeReport writes report.html for rep.
func writeReport(path string, rep *BatchReport) error {
	return writeFile(path, func(w io.Writer) error { return renderReport(w, rep) })
}

func renderReport(w io.Writer, rep *BatchReport) error {
	if rep.Run != "" {
		// An incremental run's outputs are over every run's rows: so are the row counts shown.
		r := *rep
		r.Kinds = slices.Clone(rep.Kinds)
		for i := range r.Kinds {
			r.Kinds[i].Rows += r.Kinds[i].HistoryRows
		}
		rep = &r
	}
	d := reportData{Rep: rep}
	for _, k := range rep.Kinds {
		d.Rows += k.Rows
	}
	for _, r := range rep.Results {
		s := reportSection{Result: r}
		switch r.Output.Chart {
		case Bars:
			s.Chart, s.Note = barChart(r)
		case Line:
			s.Chart = lineChart(r)
		}
		d.Sections = append(d.Sections, s)
	}
	return reportTmpl.Execute(w, d)
}

// thousands writes 1234567 as "1,234,567".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// short writes a chart value compactly: 1234567 as "1.23M", 37250.5 as "37.3k".
func short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(math.Round(v/1e4)/100, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func colIndex(r *Result, name string) int {
	for i, c := range r.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// barChart draws horizontal bars of the Value column labelled by the Label column (and the
// other text column, if any, inside the label), largest first, at most maxBars.
func barChart(r *Result) (template.HTML, string) {
	li, vi := colIndex(r, r.Output.Label), colIndex(r, r.Output.Value)
	type bar struct {
		label, extra string
		v            float64
	}
	var bars []bar
	for _, row := range r.Rows {
		v, ok := toFloat(row[vi])
		if !ok {
			continue
		}
		b := bar{label: FormatValue(row[li]), v: v}
		for i, c := range row {
			if i != li && i != vi {
				if s, ok := c.(string); ok {
					b.extra = s
				}
			}
		}
		bars = append(bars, b)
	}
	if len(bars) == 0 {
		return `<p class="empty">No rows.</p>`, ""
	}
	note := ""
	if r.Output.Name != "median_followers_by_age_group" {
		sort.SliceStable(bars, func(i, j int) bool { return bars[i].v > bars[j].v })
	}
	if len(bars) > maxBars {
		note = fmt.Sprintf("The %d largest of %d rows; the table has them all.", maxBars, len(bars))
		bars = bars[:maxBars]
	}
	maxV := 0.0
	for _, b := range bars {
		maxV = math.Max(maxV, b.v)
	}
	if maxV <= 0 {
		maxV = 1
	}
	const width, labelW, barH, gap, valueW = 820.0, 230.0, 22.0, 8.0, 70.0
	height := float64(len(bars))*(barH+gap) + gap
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %g %g" width="%g" height="%g">`,
		esc(r.Output.Title), width, height, width, height)
	for i, b := range bars {
		y := gap + float64(i)*(barH+gap)
		w := (width - labelW - valueW) * b.v / maxV
		label := b.label
		if b.extra != "" {
			label += " · " + b.extra
		}
		// 30 characters fit the label column at the chart's font size; longer ones would run off
		// the left edge, so they end in an ellipsis (the full text is in the bar's tooltip).
		if len([]rune(label)) > 30 {
			label = string([]rune(label)[:29]) + "…"
		}
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="lbl" text-anchor="end">%s</text>`, labelW-8, y+barH*0.7, esc(label))
		fmt.Fprintf(&s, `<rect x="%g" y="%g" width="%g" height="%g" rx="3" fill="%s"><title>%s: %s</title></rect>`,
			labelW, y, math.Max(w, 1), barH, palette[0], esc(label), esc(strconv.FormatFloat(b.v, 'f', -1, 64)))
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="val">%s</text>`, labelW+math.Max(w, 1)+6, y+barH*0.7, esc(short(b.v)))
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String()), note
}

// lineChart draws the Value column over the Label column (years), one line per Series value,
// with the value (and the category, when the output has one) at each point.
func lineChart(r *Result) template.HTML {
	xi, vi, si := colIndex(r, r.Output.Label), colIndex(r, r.Output.Value), colIndex(r, r.Output.Series)
	ci := colIndex(r, "category")
	type point struct {
		x, y float64
		tag  string
	}
	series := map[string][]point{}
	var order []string
	minX, maxX, maxY := math.Inf(1), math.Inf(-1), 0.0
	for _, row := range r.Rows {
		x, ok1 := toFloat(row[xi])
		y, ok2 := toFloat(row[vi])
		if !ok1 || !ok2 {
			continue
		}
		name := ""
		if si >= 0 {
			name = FormatValue(row[si])
		}
		if _, ok := series[name]; !ok {
			order = append(order, name)
		}
		p := point{x: x, y: y}
		if ci >= 0 {
			p.tag = FormatValue(row[ci])
		}
		series[name] = append(series[name], p)
		minX, maxX, maxY = math.Min(minX, x), math.Max(maxX, x), math.Max(maxY, y)
	}
	if len(order) == 0 {
		return `<p class="empty">No rows.</p>`
	}
	if maxX == minX {
		minX, maxX = minX-1, maxX+1
	}
	maxY = niceCeil(maxY)
	const width, height, left, right, top, bottom = 820.0, 320.0, 70.0, 30.0, 30.0, 40.0
	// pad keeps the first and last points (and their labels) clear of the y-axis labels and the
	// right edge.
	const pad = 40.0
	px := func(x float64) float64 { return left + pad + (x-minX)/(maxX-minX)*(width-left-right-2*pad) }
	py := func(y float64) float64 { return height - bottom - y/maxY*(height-top-bottom) }
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %g %g" width="%g" height="%g">`,
		esc(r.Output.Title), width, height, width, height)
	for i := 0; i <= 4; i++ {
		y := maxY * float64(i) / 4
		fmt.Fprintf(&s, `<line x1="%g" x2="%g" y1="%g" y2="%g" class="grid"/>`, left, width-right, py(y), py(y))
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="axis" text-anchor="end">%s</text>`, left-8, py(y)+4, esc(short(y)))
	}
	for x := math.Ceil(minX); x <= maxX; x++ {
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="axis" text-anchor="middle">%g</text>`, px(x), height-bottom+22, x)
	}
	for n, name := range order {
		pts := series[name]
		sort.Slice(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
		color := palette[n%len(palette)]
		var path strings.Builder
		for i, p := range pts {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, px(p.x), py(p.y))
		}
		fmt.Fprintf(&s, `<path d="%s" fill="none" stroke="%s" stroke-width="2.5"/>`, strings.TrimSpace(path.String()), color)
		for _, p := range pts {
			fmt.Fprintf(&s, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%g: %s</title></circle>`,
				px(p.x), py(p.y), color, p.x, esc(strconv.FormatFloat(p.y, 'f', -1, 64)))
			if len(order) == 1 {
				label := short(p.y)
				if p.tag != "" {
					label = p.tag + " " + label
				}
				fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" class="val" text-anchor="middle">%s</text>`, px(p.x), py(p.y)-10, esc(label))
			}
		}
	}
	if len(order) > 1 {
		for n, name := range order {
			x := left + 10 + float64(n)*110
			fmt.Fprintf(&s, `<rect x="%g" y="6" width="14" height="14" rx="3" fill="%s"/><text x="%g" y="18" class="lbl">%s</text>`,
				x, palette[n%len(palette)], x+20, esc(name))
		}
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for an axis.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
