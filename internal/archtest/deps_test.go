// Package archtest holds the test that keeps the package dependencies of ARCHITECTURE.md true.
package archtest

import (
	"os/exec"
	"path"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/tarsopt/tarsopt"

// rule says which project packages a package may depend on, directly or not. Patterns end in "/..."
// to cover subpackages. money and the internal leaf helpers (decimal, textfmt, jsonscan, hash64, strictjson, prefetch, u64map) may be used by every package.
type rule struct {
	pkg     string   // package pattern
	allowed []string // project packages it may depend on
	denied  []string // non-project packages it must not pull in
}

// The table of ARCHITECTURE.md ("may import (project)"), as transitive closures, plus gen (the
// seeded generator, beside the importers) and the leaf helpers. Heavy libraries stay out of the
// packages that the proxy links: Arrow only in traces/arrowtrace, plotting only in reports.
var rules = []rule{
	{"money", nil, nil},
	{"internal/decimal", nil, nil},
	{"internal/textfmt", nil, nil},
	{"internal/jsonscan", nil, nil},
	{"internal/hash64", nil, nil},
	{"internal/strictjson", nil, nil},
	{"internal/prefetch", nil, nil},
	{"internal/u64map", nil, nil},
	{"internal/tracetest", []string{"traces"}, nil},
	{"internal/fakeapi", nil, nil},
	{"internal/archtest", nil, nil},
	{"traces", nil, []string{"github.com/apache/arrow-go", "gonum.org/v1/plot"}},
	{"traces/arrowtrace", []string{"traces"}, nil},
	{"traces/importers/...", []string{"traces"}, []string{"github.com/apache/arrow-go"}},
	{"pricing", []string{"traces"}, []string{"github.com/apache/arrow-go"}},
	{"gen", []string{"traces", "pricing"}, []string{"github.com/apache/arrow-go"}},
	{"strategies", []string{"traces", "pricing"}, []string{"github.com/apache/arrow-go"}},
	{"strategies/...", []string{"strategies", "traces", "pricing"}, []string{"github.com/apache/arrow-go"}},
	{"sim", []string{"traces", "pricing", "strategies"}, nil},
	{"analysis", []string{"sim", "strategies", "traces", "pricing"}, nil},
	{"reports", []string{"analysis", "sim", "strategies", "traces", "pricing"}, nil},
	{"live/...", []string{"strategies", "strategies/...", "pricing", "traces", "config", "live/wire", "live/store", "live/monitor"}, []string{"github.com/apache/arrow-go", "gonum.org/v1/plot"}},
	{"live", []string{"strategies", "strategies/...", "pricing", "traces", "config", "live/wire", "live/store", "live/monitor"}, []string{"github.com/apache/arrow-go", "gonum.org/v1/plot"}},
	{"config", []string{"strategies", "strategies/...", "pricing", "traces"}, nil},
	{"benchmarks/...", []string{"..."}, nil},
	{"cmd/...", []string{"..."}, nil},
}

var leaves = []string{"money", "internal/decimal", "internal/textfmt", "internal/jsonscan", "internal/hash64", "internal/strictjson", "internal/prefetch", "internal/u64map"}

func match(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func TestDependencyDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}}|{{join .Deps \" \"}}{{end}}{{end}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkgPath, deps, _ := strings.Cut(line, "|")
		pkg := strings.TrimPrefix(strings.TrimPrefix(pkgPath, module), "/")
		if pkg == "" {
			pkg = "."
		}
		var r *rule
		for i := range rules {
			if match(rules[i].pkg, pkg) {
				r = &rules[i]
				break
			}
		}
		if r == nil {
			t.Errorf("package %s is not in the dependency table: add it to ARCHITECTURE.md's table and to rules here", pkg)
			continue
		}
		seen++
		var bad []string
		for _, d := range strings.Fields(deps) {
			if dep, ok := strings.CutPrefix(d, module+"/"); ok {
				ok := false
				for _, a := range append(append([]string(nil), r.allowed...), leaves...) {
					if match(a, dep) {
						ok = true
						break
					}
				}
				if !ok {
					bad = append(bad, dep)
				}
				continue
			}
			for _, deny := range r.denied {
				if d == deny || strings.HasPrefix(d, deny+"/") {
					bad = append(bad, path.Clean(d))
				}
			}
		}
		sort.Strings(bad)
		if len(bad) > 0 {
			t.Errorf("%s depends on %s; ARCHITECTURE.md allows only %v", pkg, strings.Join(bad, ", "), r.allowed)
		}
	}
	if seen < 6 {
		t.Fatalf("checked only %d packages; is go list working?", seen)
	}
}
