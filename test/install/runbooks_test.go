package install_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var (
	rulesFile      = filepath.Join(repo, "config", "prometheus", "rules.yaml")
	chartRulesFile = filepath.Join(chartDir, "files", "prometheus-rules.yaml")
	runbooksFile   = filepath.Join(repo, "docs", "runbooks.md")
)

// runbookBase is where runbook_url annotations and the dashboard's links
// point: docs/runbooks.md on the repository's main branch (go.mod's module
// path, the chart's and krew manifest's home).
const runbookBase = "https://github.com/privacyoperator/privacy-operator/blob/main/docs/runbooks.md#"

// runbookAnchors returns the anchors GitHub gives the headings of
// docs/runbooks.md (lower case, punctuation dropped, spaces as dashes), and
// the titles of its second-level sections.
func runbookAnchors(t *testing.T) (anchors map[string]bool, sections []string) {
	t.Helper()
	data, err := os.ReadFile(runbooksFile)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	anchors = map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	inCode := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if inCode || !strings.HasPrefix(line, "#") || !ok {
			continue
		}
		anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(title), ""), " ", "-")] = true
		if strings.HasPrefix(line, "## ") {
			sections = append(sections, title)
		}
	}
	return anchors, sections
}

// checkRunbookURL fails unless url points at a section of docs/runbooks.md.
func checkRunbookURL(t *testing.T, what, url string) {
	t.Helper()
	anchor, ok := strings.CutPrefix(url, runbookBase)
	if !ok {
		t.Errorf("%s: runbook URL %q is not under %s", what, url, runbookBase)
		return
	}
	if anchors, _ := runbookAnchors(t); !anchors[anchor] {
		t.Errorf("%s: docs/runbooks.md has no section #%s", what, anchor)
	}
}

// TestAlertRunbooks checks the PrometheusRule: every alert reads only
// metrics the manager exports and links its own section of
// docs/runbooks.md, which has a section for each alert and no other; the
// chart's copy is config/'s.
func TestAlertRunbooks(t *testing.T) {
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if chartCopy, err := os.ReadFile(chartRulesFile); err != nil || !bytes.Equal(chartCopy, data) {
		t.Errorf("%s differs from %s (%v): make manifests copies it", chartRulesFile, rulesFile, err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert, Expr string
					Annotations map[string]string
				}
			}
		}
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			for _, n := range metricNames(r.Expr) {
				if !registered(n) {
					t.Errorf("alert %s reads %s, which the manager does not export", r.Alert, n)
				}
			}
			url := r.Annotations["runbook_url"]
			if want := runbookBase + strings.ToLower(r.Alert); url != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, url, want)
			}
			checkRunbookURL(t, "alert "+r.Alert, url)
		}
	}
	if len(alerts) < 8 {
		t.Fatalf("%d alerts in %s, want at least 8", len(alerts), rulesFile)
	}
	_, sections := runbookAnchors(t)
	if strings.Join(sections, ",") != strings.Join(alerts, ",") {
		t.Errorf("docs/runbooks.md's sections are %q; want one per alert, in the rules' order: %q", sections, alerts)
	}
}
