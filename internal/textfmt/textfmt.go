// Package textfmt formats numbers for people: thousands separators and percentages, the same way
// in every command's output.
package textfmt

import (
	"fmt"
	"strings"
)

// Thousands formats v with the given number of decimals and commas between thousands:
// Thousands(1234567.891, 1) is "1,234,567.9".
func Thousands(v float64, decimals int) string {
	s := fmt.Sprintf("%.*f", decimals, v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// Percent formats a share (0.25) as a percentage with one decimal ("25.0%").
func Percent(share float64) string { return fmt.Sprintf("%.1f%%", 100*share) }
