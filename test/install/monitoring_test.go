package install_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	// The operator's metrics, registered on controller-runtime's registry
	// when the package loads, as in the manager.
	_ "github.com/privacyoperator/privacy-operator/controllers"
)

var (
	dashboardFile      = filepath.Join(repo, "config", "grafana", "privacy-operator-dashboard.json")
	chartDashboardFile = filepath.Join(chartDir, "files", "grafana-dashboard.json")
)

// panel is what the tests read of a Grafana panel (a row holds panels).
type panel struct {
	Title   string
	Targets []struct{ Expr string }
	Links   []struct{ URL string }
	Panels  []panel
}

// dashboard is what the tests read of the Grafana dashboard.
type dashboard struct {
	UID, Title string
	Panels     []panel
	Templating struct {
		List []struct {
			Name, Definition string
		}
	}
}

// registered reports whether the manager's metrics registry (the one its
// /metrics endpoint serves) holds a metric of this name, or a histogram
// whose series this is (_bucket, _sum, _count). It asks the registry
// itself: a probe of the same name is refused only when one exists.
func registered(name string) bool {
	for _, n := range []string{name, strings.TrimSuffix(name, "_bucket"), strings.TrimSuffix(name, "_sum"), strings.TrimSuffix(name, "_count")} {
		probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: "probe"})
		if err := metrics.Registry.Register(probe); err != nil {
			return true
		}
		metrics.Registry.Unregister(probe)
	}
	return false
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promToken    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*|[0-9][A-Za-z0-9_.]*`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset"}
)

// metricNames returns the metric names a PromQL expression reads: what is
// left once strings, label matchers, ranges and grouping clauses are taken
// out, less numbers, durations, keywords and the names of functions and
// aggregations (followed by a parenthesis).
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promToken.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || slices.Contains(promKeywords, tok) ||
			strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue
		}
		names = append(names, tok)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`sum by (le, type) (rate(a_bucket{job=~"$job", x="(y)"}[$__rate_interval])) > 2 * b offset 1h unless on (policy) c`)
	if want := []string{"a_bucket", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("metricNames: %q, want %q", got, want)
	}
	if !registered("privacyoperator_job_duration_seconds_bucket") || !registered("workqueue_depth") || registered("privacyoperator_no_such_metric") {
		t.Error("the registry probe does not tell registered metrics from others")
	}
}

// operatorMetrics returns the names of the operator's own metrics, read
// from the controllers' source: every string literal that is a metric name
// of ours.
func operatorMetrics(t *testing.T) []string {
	t.Helper()
	name := regexp.MustCompile(`^privacyoperator_[a-z_]+$`)
	files, err := filepath.Glob(filepath.Join(repo, "controllers", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && name.MatchString(s) && !slices.Contains(names, s) {
					names = append(names, s)
				}
			}
			return true
		})
	}
	if len(names) < 10 {
		t.Fatalf("found %d metric names in controllers/ (%q); want the operator's metrics", len(names), names)
	}
	return names
}

func readDashboard(t *testing.T) (dashboard, []byte) {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d, data
}

// TestGrafanaDashboard checks the dashboard against the metrics the manager
// registers: every query reads only metrics that exist, and every metric
// of the operator's own has a panel.
func TestGrafanaDashboard(t *testing.T) {
	d, _ := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("the dashboard has uid %q, title %q; want both", d.UID, d.Title)
	}
	used := map[string]bool{}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			walk(p.Panels)
			for _, target := range p.Targets {
				names := metricNames(target.Expr)
				if len(names) == 0 {
					t.Errorf("panel %q: %q reads no metric", p.Title, target.Expr)
				}
				for _, n := range names {
					used[n] = true
					if !registered(n) {
						t.Errorf("panel %q reads %s, which the manager does not export: %s", p.Title, n, target.Expr)
					}
				}
			}
			for _, l := range p.Links {
				checkRunbookURL(t, "panel "+p.Title, l.URL)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if m := regexp.MustCompile(`^label_values\((\w+),`).FindStringSubmatch(v.Definition); m != nil && !registered(m[1]) {
			t.Errorf("variable %s reads %s, which the manager does not export", v.Name, m[1])
		}
	}
	for _, n := range operatorMetrics(t) {
		if !registered(n) {
			t.Errorf("%s is named in controllers/ but not registered", n)
		}
		if !used[n] && !used[n+"_bucket"] {
			t.Errorf("no panel shows %s", n)
		}
	}
}

// TestChartGrafanaDashboard checks that the chart's copy of the dashboard
// is config/grafana's and that grafanaDashboard.enabled renders it as a
// ConfigMap Grafana's sidecar picks up.
func TestChartGrafanaDashboard(t *testing.T) {
	_, data := readDashboard(t)
	chartCopy, err := os.ReadFile(chartDashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chartCopy, data) {
		t.Errorf("%s differs from %s: cp the latter over the former", chartDashboardFile, dashboardFile)
	}
	dashboards := func(objs []*unstructured.Unstructured) (out []*unstructured.Unstructured) {
		for _, cm := range ofKind(objs, "ConfigMap") {
			if _, ok := cm.GetLabels()["grafana_dashboard"]; ok {
				out = append(out, cm)
			}
		}
		return out
	}
	if got := dashboards(renderChart(t, nil)); len(got) != 0 {
		t.Errorf("the default values render %d dashboards, want none", len(got))
	}
	got := dashboards(renderChart(t, map[string]any{"grafanaDashboard": map[string]any{
		"enabled": true, "namespace": "monitoring", "annotations": map[string]any{"grafana_folder": "Privacy"},
	}}))
	if len(got) != 1 {
		t.Fatalf("grafanaDashboard.enabled renders %d dashboards, want 1", len(got))
	}
	cm := got[0]
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != "monitoring" || cm.GetAnnotations()["grafana_folder"] != "Privacy" {
		t.Errorf("ConfigMap %s/%s: labels %v, annotations %v; want grafana_dashboard=1 in monitoring, the folder annotation",
			cm.GetNamespace(), cm.GetName(), cm.GetLabels(), cm.GetAnnotations())
	}
	content, _, _ := unstructured.NestedString(cm.Object, "data", "privacy-operator.json")
	if content != strings.TrimSpace(string(data)) {
		t.Errorf("the ConfigMap's privacy-operator.json is not the dashboard (%d bytes, want %d)", len(content), len(strings.TrimSpace(string(data))))
	}
}
