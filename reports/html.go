package reports

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// htmlPage returns one self-contained HTML page: the index and every phase report, charts inlined
// as data URIs, so that the file alone shows everything.
func htmlPage(rep *Report, dir string, index []byte, pages map[string][]byte) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tarsopt benchmark reports: %s</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:62rem;margin:0 auto;padding:1.5rem 2rem;color:#1d2430;line-height:1.5;background:#fff}
nav{position:sticky;top:0;background:#f4f6f9;padding:.6rem 1rem;border-radius:6px;margin-bottom:1.5rem}
nav a{margin-right:1.2rem;color:#1f5fa8;text-decoration:none;font-weight:600}
h1{border-bottom:2px solid #1f5fa8;padding-bottom:.3rem;margin-top:2.5rem}
h2{margin-top:2rem;color:#1f3b63}
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem}
th,td{border:1px solid #d5dbe3;padding:.3rem .6rem}
th{background:#eef2f7}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafbfd}
img{max-width:100%%;height:auto;border:1px solid #e2e6ec;border-radius:4px;margin:.5rem 0}
code{background:#f1f3f6;padding:0 .25rem;border-radius:3px}
section{margin-bottom:3rem}
</style></head><body>
<nav>`, html.EscapeString(rep.Trace))
	b.WriteString(`<a href="#index">Overview</a>`)
	for _, p := range rep.Phases {
		fmt.Fprintf(&b, `<a href="#%s">%s</a>`, anchor(p.File), html.EscapeString(p.Name))
	}
	b.WriteString("</nav>\n")
	conv := &mdConverter{dir: dir, pageIDs: map[string]string{"README.md": "index"}}
	for _, p := range rep.Phases {
		conv.pageIDs[p.File] = anchor(p.File)
	}
	b.WriteString(`<section id="index">`)
	if err := conv.convert(&b, index); err != nil {
		return nil, err
	}
	b.WriteString("</section>\n")
	for _, p := range rep.Phases {
		fmt.Fprintf(&b, `<section id="%s">`, anchor(p.File))
		if err := conv.convert(&b, pages[p.File]); err != nil {
			return nil, err
		}
		b.WriteString("</section>\n")
	}
	b.WriteString("</body></html>\n")
	return b.Bytes(), nil
}

func anchor(file string) string {
	return strings.ToLower(strings.TrimSuffix(file, filepath.Ext(file)))
}

// mdConverter turns the markdown these reports write (headings, paragraphs, bullet lists, pipe
// tables, images, links, bold and code) into HTML. It is not a general markdown parser.
type mdConverter struct {
	dir     string
	pageIDs map[string]string // report file → section id, for links between reports
	images  map[string]string // chart path → data URI
}

var (
	reImage = regexp.MustCompile(`^!\[([^\]]*)\]\(([^)]+)\)$`)
	reLink  = regexp.MustCompile(`\[([^\]]+)\]\(([^)]+)\)`)
	reBold  = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	reCode  = regexp.MustCompile("`([^`]+)`")
)

func (c *mdConverter) inline(s string) string {
	s = html.EscapeString(s)
	s = reCode.ReplaceAllString(s, "<code>$1</code>")
	s = reBold.ReplaceAllString(s, "<strong>$1</strong>")
	return reLink.ReplaceAllStringFunc(s, func(m string) string {
		sub := reLink.FindStringSubmatch(m)
		target := html.UnescapeString(sub[2])
		if id, ok := c.pageIDs[target]; ok {
			target = "#" + id
		} else if dir, ok := strings.CutSuffix(target, "/README.md"); ok {
			target = dir + "/index.html" // another report set: its own page
		} else if strings.HasPrefix(target, "charts/") && strings.HasSuffix(target, ".png") {
			if uri, err := c.dataURI(target); err == nil {
				target = uri
			}
		}
		return fmt.Sprintf(`<a href="%s">%s</a>`, html.EscapeString(target), sub[1])
	})
}

func (c *mdConverter) dataURI(path string) (string, error) {
	if uri, ok := c.images[path]; ok {
		return uri, nil
	}
	data, err := os.ReadFile(filepath.Join(c.dir, filepath.FromSlash(path)))
	if err != nil {
		return "", err
	}
	if c.images == nil {
		c.images = map[string]string{}
	}
	uri := "data:image/png;base64," + base64.StdEncoding.EncodeToString(data)
	c.images[path] = uri
	return uri, nil
}

func (c *mdConverter) convert(b *bytes.Buffer, md []byte) error {
	lines := strings.Split(string(md), "\n")
	var para []string
	flush := func() {
		if len(para) > 0 {
			fmt.Fprintf(b, "<p>%s</p>\n", c.inline(strings.Join(para, " ")))
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case strings.HasPrefix(l, "#"):
			flush()
			n := len(l) - len(strings.TrimLeft(l, "#"))
			fmt.Fprintf(b, "<h%d>%s</h%d>\n", n, c.inline(strings.TrimSpace(l[n:])), n)
		case reImage.MatchString(l):
			flush()
			m := reImage.FindStringSubmatch(l)
			uri, err := c.dataURI(m[2])
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "<figure><img src=\"%s\" alt=\"%s\"><figcaption>%s</figcaption></figure>\n", uri, html.EscapeString(m[1]), html.EscapeString(m[1]))
		case strings.HasPrefix(l, "- "):
			flush()
			b.WriteString("<ul>\n")
			for ; i < len(lines) && strings.HasPrefix(lines[i], "- "); i++ {
				fmt.Fprintf(b, "<li>%s</li>\n", c.inline(lines[i][2:]))
			}
			i--
			b.WriteString("</ul>\n")
		case strings.HasPrefix(l, "|"):
			flush()
			var rows [][]string
			for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
				rows = append(rows, splitRow(lines[i]))
			}
			i--
			c.table(b, rows)
		default:
			para = append(para, strings.TrimSpace(l))
		}
	}
	flush()
	return nil
}

func splitRow(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimPrefix(l, "|")
	l = strings.TrimSuffix(l, "|")
	cells := strings.Split(l, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

func (c *mdConverter) table(b *bytes.Buffer, rows [][]string) {
	if len(rows) < 2 {
		return
	}
	align := rows[1]
	cls := func(j int) string {
		if j < len(align) && strings.HasSuffix(align[j], ":") {
			return ` class="num"`
		}
		return ""
	}
	b.WriteString("<table>\n<tr>")
	for j, h := range rows[0] {
		fmt.Fprintf(b, "<th%s>%s</th>", cls(j), c.inline(h))
	}
	b.WriteString("</tr>\n")
	for _, r := range rows[2:] {
		b.WriteString("<tr>")
		for j, v := range r {
			fmt.Fprintf(b, "<td%s>%s</td>", cls(j), c.inline(v))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
}
