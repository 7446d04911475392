package install_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// documentedValues returns the values values.yaml describes with a
// "# --" comment, by their dotted path.
func documentedValues(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`^( *)([A-Za-z][A-Za-z0-9]*):`)
	var stack []string // the keys enclosing the current line, by indentation / 2
	var out []string
	described := false
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			described = described || strings.HasPrefix(trimmed, "# --")
			continue
		}
		m := key.FindStringSubmatch(line)
		if m == nil {
			if trimmed != "" {
				described = false
			}
			continue
		}
		depth := len(m[1]) / 2
		if depth > len(stack) {
			// A key inside a list item (- maxSkew: 1 ...), not a value.
			described = false
			continue
		}
		stack = append(stack[:depth], m[2])
		if described {
			out = append(out, strings.Join(stack, "."))
		}
		described = false
	}
	return out
}

// tableValues returns the values the README's table names: a row's first
// cell lists `a.b.c`, `.d` (a sibling of the value before it), ...
func tableValues(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile("`([A-Za-z.][A-Za-z0-9.]*)`")
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		parent := ""
		for _, m := range name.FindAllStringSubmatch(cell, -1) {
			v := m[1]
			if strings.HasPrefix(v, ".") {
				v = parent + v
			}
			out[v] = true
			if i := strings.LastIndex(v, "."); i >= 0 {
				parent = v[:i]
			}
		}
	}
	return out
}

// TestValuesAreDocumented: every value values.yaml describes ("# --") has
// a row in the README's values table (a described map, such as
// admissionPolicy, has one for a value in it).
func TestValuesAreDocumented(t *testing.T) {
	values, table := documentedValues(t), tableValues(t)
	if len(values) < 50 || !slices.Contains(values, "privacyCenter.ingress.tlsSecret") {
		t.Fatalf("found %d described values in values.yaml (%q), the parser is off", len(values), values)
	}
	for _, v := range values {
		if !table[v] && !slices.ContainsFunc(slices.Collect(maps.Keys(table)), func(k string) bool { return strings.HasPrefix(k, v+".") }) {
			t.Errorf("value %s is not in the README's values table", v)
		}
	}
	t.Logf("%d described values, each in the README's table", len(values))
}
