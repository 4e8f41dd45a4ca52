package analytics

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pinpipe/pinpipe/progress"
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
	"rows":     func(n int) string { return progress.Count(n, "row") },
}).Parse(reportTemplate))

// palette is the colour of each series (bars use the first).
var palette = []string{"#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2"}

// maxBars is how many bars a chart shows; the table below it has every row.
const maxBars = 20

// layout is the geometry a chart is drawn for. Each chart is drawn twice, wide and narrow, and
// the page's CSS shows the one that fits the screen (there is no script): an 820-unit chart
// scaled down to a phone would shrink its 12 px text to 6.
type layout struct {
	width  float64
	narrow bool
}

var (
	wideLayout   = layout{width: 820}
	narrowLayout = layout{width: 440, narrow: true}
)

// Text metrics, generous for system-ui: the widest average character at each font size, so a
// line estimated to fit does fit (the Chromium test measures the real boxes).
const (
	lblChar = 7.0 // .lbl, 12px
	valChar = 6.4 // .val and .axis, 11px
	lineH   = 15.0
)

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
		var draw func(*Result, layout) (template.HTML, string)
		switch {
		case r.Output.Chart == Bars:
			draw = barChart
		// A line joining the top category of one year to a different one of the next misleads:
		// each year gets its own bar, coloured by its category.
		case r.Output.Chart == Line && colIndex(r, "category") >= 0:
			draw = yearBars
		case r.Output.Chart == Line:
			draw = lineChart
		}
		if draw != nil {
			w, note := draw(r, wideLayout)
			n, _ := draw(r, narrowLayout)
			s.Chart, s.Note = w+n, note
		}
		if missing := missingYears(r); missing != "" {
			s.Note = strings.TrimSpace(s.Note + " " + missing)
		}
		d.Sections = append(d.Sections, s)
	}
	return reportTmpl.Execute(w, d)
}

var yearRangeRE = regexp.MustCompile(`(\d{4})–(\d{4})`)

// titleYears is the year range an output's title promises ("..., 2018–2022").
func titleYears(r *Result) (from, to int, ok bool) {
	m := yearRangeRE.FindStringSubmatch(r.Output.Title)
	if m == nil {
		return 0, 0, false
	}
	from, _ = strconv.Atoi(m[1])
	to, _ = strconv.Atoi(m[2])
	return from, to, from <= to
}

// missingYears says which years of the title's range have no row, so an empty year is not read
// as a chart that failed to draw it.
func missingYears(r *Result) string {
	from, to, ok := titleYears(r)
	xi := colIndex(r, r.Output.Label)
	if !ok || xi < 0 {
		return ""
	}
	have := map[int]bool{}
	for _, row := range r.Rows {
		if y, ok := toFloat(row[xi]); ok {
			have[int(y)] = true
		}
	}
	var gone []string
	for y := from; y <= to; y++ {
		if !have[y] {
			gone = append(gone, strconv.Itoa(y))
		}
	}
	switch len(gone) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("No rows for %s: the data has none in that year.", gone[0])
	}
	return fmt.Sprintf("No rows for %s and %s: the data has none in those years.", strings.Join(gone[:len(gone)-1], ", "), gone[len(gone)-1])
}

// wrap breaks text into lines of at most width units of charW each, at spaces, then at hyphens;
// a word still too long is cut.
func wrap(text string, width, charW float64) []string {
	maxC := max(4, int(width/charW))
	var words []string
	for _, w := range strings.Fields(text) {
		for len([]rune(w)) > maxC {
			if i := strings.LastIndex(string([]rune(w)[:maxC]), "-"); i > 0 {
				words = append(words, w[:i+1])
				w = w[i+1:]
				continue
			}
			words = append(words, string([]rune(w)[:maxC]))
			w = string([]rune(w)[maxC:])
		}
		words = append(words, w)
	}
	var lines []string
	cur := ""
	for _, w := range words {
		switch {
		case cur == "":
			cur = w
		case len([]rune(cur))+1+len([]rune(w)) <= maxC && !strings.HasSuffix(cur, "-"):
			cur += " " + w
		case len([]rune(cur))+len([]rune(w)) <= maxC && strings.HasSuffix(cur, "-"):
			cur += w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// textLines writes lines as one <text> of <tspan>s, the first baseline at y.
func textLines(s *strings.Builder, x, y float64, class, anchor string, lines []string) {
	fmt.Fprintf(s, `<text x="%g" y="%g" class="%s" text-anchor="%s">`, x, y, class, anchor)
	for i, l := range lines {
		dy := 0.0
		if i > 0 {
			dy = lineH
		}
		fmt.Fprintf(s, `<tspan x="%g" dy="%g">%s</tspan>`, x, dy, esc(l))
	}
	s.WriteString(`</text>`)
}

func svgOpen(s *strings.Builder, r *Result, l layout, height float64) {
	class := "chart wide"
	if l.narrow {
		class = "chart narrow"
	}
	fmt.Fprintf(s, `<svg class="%s" role="img" aria-label="%s" viewBox="0 0 %g %g" width="%g" height="%g">`,
		class, esc(r.Output.Title), l.width, height, l.width, height)
}

// axisTop rounds the largest value up to a tick: step is 1, 2 or 5 (2.5 too, unless integer)
// times a power of ten, so an axis of counts reads 0, 1, 2 rather than 0, 0.25, 0.5.
func axisTop(maxV float64, integer bool) (top, step float64) {
	if maxV <= 0 {
		return 1, 1
	}
	raw := maxV / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	steps := []float64{1, 2, 2.5, 5, 10}
	if integer {
		steps = []float64{1, 2, 5, 10}
	}
	step = 10 * p
	for _, m := range steps {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	if integer {
		step = math.Max(1, math.Round(step))
	}
	return step * math.Ceil(maxV/step), step
}

func allIntegers(r *Result, vi int) bool {
	for _, row := range r.Rows {
		if _, ok := row[vi].(float64); ok {
			return false
		}
	}
	return true
}

// barChart draws horizontal bars of the Value column labelled by the Label column (and the
// other text column, if any, on the label's second line), largest first, at most maxBars.
// Wide, the labels stand left of the bars; narrow, above them. Long labels wrap.
func barChart(r *Result, l layout) (template.HTML, string) {
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
	const barH, gap, valueW = 20.0, 10.0, 64.0
	labelW := 250.0
	barX := labelW
	if l.narrow {
		labelW, barX = l.width-4, 0
	}
	barMax := l.width - barX - valueW
	type placed struct {
		lines, extra []string
		y, h         float64
	}
	rows := make([]placed, len(bars))
	y := gap
	for i, b := range bars {
		p := placed{lines: wrap(b.label, labelW-10, lblChar)}
		if b.extra != "" {
			p.extra = wrap(b.extra, labelW-10, lblChar)
		}
		n := float64(len(p.lines) + len(p.extra))
		if l.narrow {
			p.h = n*lineH + barH + 4
		} else {
			p.h = math.Max(barH, n*lineH)
		}
		p.y = y
		rows[i] = p
		y += p.h + gap
	}
	var s strings.Builder
	svgOpen(&s, r, l, y)
	for i, b := range bars {
		p := rows[i]
		w := math.Max(barMax*b.v/maxV, 1)
		by := p.y + (p.h-barH)/2
		lines := append(append([]string{}, p.lines...), p.extra...)
		if l.narrow {
			by = p.y + p.h - barH
			textLines(&s, 2, p.y+11, "lbl", "start", lines)
		} else {
			n := float64(len(lines))
			textLines(&s, labelW-10, p.y+(p.h-n*lineH)/2+11, "lbl", "end", lines)
		}
		full := b.label
		if b.extra != "" {
			full += " · " + b.extra
		}
		fmt.Fprintf(&s, `<rect x="%g" y="%g" width="%g" height="%g" rx="3" fill="%s"><title>%s: %s</title></rect>`,
			barX, by, w, barH, palette[0], esc(full), esc(strconv.FormatFloat(b.v, 'f', -1, 64)))
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="val">%s</text>`, barX+w+6, by+barH*0.7, esc(short(b.v)))
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String()), note
}

// yearBars draws one vertical bar per year of the Value column, labelled with the category the
// row names and coloured by it, over every year of the title's range (a year without a row is
// marked so), on an axis with whole-number ticks.
func yearBars(r *Result, l layout) (template.HTML, string) {
	xi, vi, ci := colIndex(r, r.Output.Label), colIndex(r, r.Output.Value), colIndex(r, "category")
	type yb struct {
		v   float64
		cat string
	}
	byYear := map[int]yb{}
	minY, maxY := math.MaxInt, math.MinInt
	maxV := 0.0
	var cats []string
	color := map[string]string{}
	for _, row := range r.Rows {
		x, ok1 := toFloat(row[xi])
		v, ok2 := toFloat(row[vi])
		if !ok1 || !ok2 {
			continue
		}
		c := FormatValue(row[ci])
		byYear[int(x)] = yb{v, c}
		minY, maxY = min(minY, int(x)), max(maxY, int(x))
		maxV = math.Max(maxV, v)
		if _, ok := color[c]; !ok {
			color[c] = palette[len(cats)%len(palette)]
			cats = append(cats, c)
		}
	}
	if len(byYear) == 0 {
		return `<p class="empty">No rows.</p>`, ""
	}
	if from, to, ok := titleYears(r); ok {
		minY, maxY = min(minY, from), max(maxY, to)
	}
	top, step := axisTop(maxV, allIntegers(r, vi))
	const left, right, topM, barTop = 56.0, 12.0, 12.0, 24.0
	slot := (l.width - left - right) / float64(maxY-minY+1)
	// The category names under the years: as many lines as the longest needs.
	catLines := 1
	for _, c := range cats {
		catLines = max(catLines, len(wrap(c, slot-6, valChar)))
	}
	plotH := 200.0
	if l.narrow {
		plotH = 180
	}
	height := topM + barTop + plotH + 22 + float64(catLines)*lineH + 8
	py := func(v float64) float64 { return topM + barTop + plotH - v/top*plotH }
	var s strings.Builder
	svgOpen(&s, r, l, height)
	for v := 0.0; v <= top+step/2; v += step {
		fmt.Fprintf(&s, `<line x1="%g" x2="%g" y1="%g" y2="%g" class="grid"/>`, left, l.width-right, py(v), py(v))
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="axis" text-anchor="end">%s</text>`, left-8, py(v)+4, esc(short(v)))
	}
	barW := math.Min(56, slot*0.6)
	for y := minY; y <= maxY; y++ {
		cx := left + (float64(y-minY)+0.5)*slot
		base := py(0)
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="axis" text-anchor="middle">%d</text>`, cx, base+16, y)
		b, ok := byYear[y]
		if !ok {
			fmt.Fprintf(&s, `<text x="%g" y="%g" class="axis" text-anchor="middle">no rows</text>`, cx, base-6)
			continue
		}
		h := math.Max(base-py(b.v), 1)
		fmt.Fprintf(&s, `<rect x="%g" y="%g" width="%g" height="%g" rx="3" fill="%s"><title>%d: %s, %s</title></rect>`,
			cx-barW/2, base-h, barW, h, color[b.cat], y, esc(b.cat), esc(strconv.FormatFloat(b.v, 'f', -1, 64)))
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="val" text-anchor="middle">%s</text>`, cx, base-h-6, esc(short(b.v)))
		textLines(&s, cx, base+16+lineH, "cat", "middle", wrap(b.cat, slot-6, valChar*1.1))
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String()), ""
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

// lineChart draws the Value column over the Label column (years), one line per Series value,
// with the value at each point when there is one line, and a legend that wraps when there are
// several.
func lineChart(r *Result, l layout) (template.HTML, string) {
	xi, vi, si := colIndex(r, r.Output.Label), colIndex(r, r.Output.Value), colIndex(r, r.Output.Series)
	type point struct{ x, y float64 }
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
		series[name] = append(series[name], point{x, y})
		minX, maxX, maxY = math.Min(minX, x), math.Max(maxX, x), math.Max(maxY, y)
	}
	if len(order) == 0 {
		return `<p class="empty">No rows.</p>`, ""
	}
	if from, to, ok := titleYears(r); ok {
		minX, maxX = math.Min(minX, float64(from)), math.Max(maxX, float64(to))
	}
	if maxX == minX {
		minX, maxX = minX-1, maxX+1
	}
	top, step := axisTop(maxY, allIntegers(r, vi))
	// The legend, flowed into as many rows as it needs.
	type entry struct {
		x, y float64
		name string
	}
	var legend []entry
	lx, ly := 8.0, 6.0
	if len(order) > 1 {
		for _, name := range order {
			w := 20 + float64(len([]rune(name)))*lblChar + 18
			if lx+w > l.width-8 && lx > 8 {
				lx, ly = 8, ly+20
			}
			legend = append(legend, entry{lx, ly, name})
			lx += w
		}
	}
	left, right, bottom := 60.0, 20.0, 40.0
	topM := 30.0
	if len(legend) > 0 {
		topM = ly + 20 + 16
	}
	height := topM + 250 + bottom
	if l.narrow {
		height = topM + 200 + bottom
		left = 48
	}
	const pad = 28.0 // keeps the end points and their labels clear of the axis labels and the edge
	px := func(x float64) float64 { return left + pad + (x-minX)/(maxX-minX)*(l.width-left-right-2*pad) }
	py := func(y float64) float64 { return height - bottom - y/top*(height-topM-bottom) }
	var s strings.Builder
	svgOpen(&s, r, l, height)
	for v := 0.0; v <= top+step/2; v += step {
		fmt.Fprintf(&s, `<line x1="%g" x2="%g" y1="%g" y2="%g" class="grid"/>`, left, l.width-right, py(v), py(v))
		fmt.Fprintf(&s, `<text x="%g" y="%g" class="axis" text-anchor="end">%s</text>`, left-8, py(v)+4, esc(short(v)))
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
				fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" class="val" text-anchor="middle">%s</text>`, px(p.x), py(p.y)-10, esc(short(p.y)))
			}
		}
	}
	for n, e := range legend {
		fmt.Fprintf(&s, `<rect x="%g" y="%g" width="14" height="14" rx="3" fill="%s"/><text x="%g" y="%g" class="lbl">%s</text>`,
			e.x, e.y, palette[n%len(palette)], e.x+20, e.y+12, esc(e.name))
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String()), ""
}
