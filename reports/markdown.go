package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strings"
	"text/template"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/internal/textfmt"
	"github.com/tarsopt/tarsopt/sim"
)

// phaseView is what one phase report's template sees.
type phaseView struct {
	R       *Report
	P       *Phase
	Index   int
	Final   bool
	Charts  map[string]chart
	Claims  []analysis.ClaimCheck
	Models  []string
	Targets []targetRow
	Next    []string // what to do next, besides the sweep
}

type targetRow struct {
	What, Target, Measured string
	Met                    bool
}

var funcs = template.FuncMap{
	"usd": func(v float64) string { return "$" + textfmt.Thousands(v, 2) },
	"usd4": func(v float64) string {
		if v < 0 {
			return fmt.Sprintf("−$%.4f", -v)
		}
		return fmt.Sprintf("$%.4f", v)
	},
	"usdS": func(v sim.USD) string { return usd(float64(v) / 1e9) },
	"pct":  textfmt.Percent,
	"pctd": func(v float64) string { return fmt.Sprintf("%+.1f pts", 100*v) },
	"num":  func(v float64) string { return textfmt.Thousands(v, 0) },
	"f1":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f4":   func(v float64) string { return fmt.Sprintf("%.4f", v) },
	"ms":   func(v float64) string { return textfmt.Thousands(v, 0) + " ms" },
	"sec":  func(v float64) string { return fmt.Sprintf("%.2f s", v) },
	"g":    func(v float64) string { return fmtClaim(v) },
	"join": strings.Join,
	"change": func(base, v float64) string {
		if base == 0 {
			return ""
		}
		return fmt.Sprintf("%+.1f%%", 100*(v/base-1))
	},
	"usdchange": func(base, v sim.USD) string {
		if base == 0 {
			return ""
		}
		return fmt.Sprintf("%+.1f%%", 100*(float64(v)/float64(base)-1))
	},
	"mark": func(ok bool) string {
		if ok {
			return "pass"
		}
		return "**fail**"
	},
	"fires": func(pass bool) string {
		if pass {
			return "no"
		}
		return "**fires**"
	},
	"met": func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	},
	"claimed":  claimedText,
	"verdict":  func(v string) string { return strings.Replace(v, "fails", "**fails**", 1) },
	"mix":      func(s sim.Summary, m string) string { return textfmt.Percent(s.ModelMix[m]) },
	"stats":    analysis.StatsOf,
	"field":    func(mc *analysis.MCResult, f string) []float64 { return mc.Field(f) },
	"pge":      func(mc *analysis.MCResult) map[string]float64 { return mc.PReductionGE(len(mc.Samples)) },
	"thr":      analysis.ThresholdKey,
	"thrs":     func(r *Report) []float64 { return r.Thresholds },
	"idx":      func(xs []float64, i int) float64 { return xs[i] },
	"add":      func(a, b int) int { return a + b },
	"interact": interactionText,
	"plan": func(r *Report, s string) string {
		if v, ok := r.PlanSavings[s]; ok {
			return "$" + fmt.Sprintf("%.2f", v)
		}
		return "-"
	},
	"planshare": func(r *Report, s string) string {
		if v, ok := r.PlanSavings[s]; ok && r.PlanBaseline > 0 {
			return textfmt.Percent(v / r.PlanBaseline)
		}
		return "-"
	},
	"oracleDay": func(r *Report) float64 { return r.Oracle.PerDay() },
	"float":     func(v int64) float64 { return float64(v) },
	"plural": func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	},
	"sub": func(a, b float64) float64 { return a - b },
	"ratio": func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	},
}

// usd prints dollars: cents for a dollar and more, four decimals below (small real samples cost
// fractions of a cent a day).
func usd(v float64) string {
	sign := ""
	if v < 0 {
		sign, v = "−", -v
	}
	if v < 1 && v != 0 {
		return fmt.Sprintf("%s$%.4f", sign, v)
	}
	return sign + "$" + textfmt.Thousands(v, 2)
}

func fmtClaim(v float64) string {
	switch {
	case math.Abs(v) >= 1000:
		return textfmt.Thousands(v, 0)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func claimedText(c analysis.ClaimCheck) string {
	switch {
	case c.Claimed.Value != nil:
		s := fmtClaim(*c.Claimed.Value)
		if c.Claimed.Min != nil && c.Claimed.Max != nil {
			s += fmt.Sprintf(" (%s to %s)", fmtClaim(*c.Claimed.Min), fmtClaim(*c.Claimed.Max))
		}
		return s
	case c.Claimed.Min != nil && c.Claimed.Max != nil:
		return fmtClaim(*c.Claimed.Min) + " to " + fmtClaim(*c.Claimed.Max)
	case c.Claimed.Min != nil:
		return "at least " + fmtClaim(*c.Claimed.Min)
	case c.Claimed.Max != nil:
		return "at most " + fmtClaim(*c.Claimed.Max)
	}
	return ""
}

func interactionText(a *analysis.Attribution) string {
	if len(a.Interactions) == 0 {
		return ""
	}
	in := slices.Clone(a.Interactions)
	slices.SortStableFunc(in, func(x, y analysis.Interaction) int {
		return int(math.Copysign(1, math.Abs(y.USDPerDay)-math.Abs(x.USDPerDay)))
	})
	x := in[0]
	kind := "save on the same calls, so their savings overlap"
	if x.USDPerDay > 0 {
		kind = "reinforce each other"
	}
	return fmt.Sprintf("The largest interaction is between %s and %s (%+.4f $/day): they %s. The plan adds its per-strategy figures as if there were none.", x.A, x.B, x.USDPerDay, kind)
}

//go:embed phase.md.tmpl
var phaseSource string

var phaseTemplate = template.Must(template.New("phase").Funcs(funcs).Parse(phaseSource))

// writeMarkdown renders one phase report.
func writeMarkdown(v *phaseView) ([]byte, error) {
	var b bytes.Buffer
	if err := phaseTemplate.Execute(&b, v); err != nil {
		return nil, err
	}
	return tidy(b.Bytes()), nil
}

// tidy collapses runs of blank lines the template leaves, so the markdown reads clean.
func tidy(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	var out []string
	blank := false
	for _, l := range lines {
		l = strings.TrimRight(l, " ")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return []byte(strings.TrimSpace(strings.Join(out, "\n")) + "\n")
}
