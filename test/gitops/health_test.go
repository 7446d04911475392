// Package gitops tests what GitOps tools read from the operator's objects:
// the Argo CD health checks of config/argocd/health, run as Argo CD runs
// them, and kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, which Flux
// uses), on the same objects: testdata holds every kind in every state, as
// the controllers write it. docs/gitops.md shows the table below.
package gitops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/privacyoperator/privacy-operator/hack/argocdhealth/snippet"
)

const scriptsDir = "../../config/argocd/health"

// state is one object in testdata and what each tool reads from it.
type state struct {
	file    string        // under testdata/, without .yaml
	argo    string        // Argo CD's health status
	message string        // a part of Argo CD's health message
	kstatus status.Status // what kstatus (Flux) reads, today
}

// states is the table docs/gitops.md shows. The envtest suites check
// that the controllers write these conditions (a suspended DataSource or
// RetentionPolicy has Suspended=True and no Ready; a DataSource whose
// Ready reason waits for a person has Stalled=True).
var states = []state{
	{"datasource/new", "Progressing", "observe generation 1", status.CurrentStatus}, // no status at all: kstatus cannot tell
	{"datasource/initializing", "Progressing", "Initializing: The endpoint is being probed.", status.InProgressStatus},
	{"datasource/ready", "Healthy", "ProbeSucceeded", status.CurrentStatus},
	{"datasource/ready-manual", "Healthy", "Manual", status.CurrentStatus},
	{"datasource/ready-insecure", "Healthy", "Warning: The endpoint is plain HTTP", status.CurrentStatus},
	{"datasource/spec-changed", "Progressing", "observe generation 2", status.InProgressStatus},
	{"datasource/suspended", "Suspended", "Suspended: spec.suspend is true", status.CurrentStatus},
	{"datasource/secret-not-found", "Degraded", "SecretNotFound: Secret billing-privacy-signin does not exist.", status.FailedStatus},
	{"datasource/endpoint-unreachable", "Degraded", "EndpointUnreachable", status.InProgressStatus}, // retried: not Stalled
	{"datasource/namespace-not-allowed", "Degraded", "NamespaceNotAllowed", status.FailedStatus},

	{"privacyrequest/new", "Progressing", "observe generation 1", status.CurrentStatus},
	{"privacyrequest/pending", "Progressing", "Pending: 0 of 2 data sources finished.", status.InProgressStatus},
	{"privacyrequest/in-progress", "Progressing", "InProgress: 1 of 2 data sources finished.", status.InProgressStatus},
	{"privacyrequest/due-soon", "Progressing", "Warning: The request is due on", status.InProgressStatus},
	{"privacyrequest/overdue", "Degraded", "DeadlineExceeded", status.InProgressStatus},
	{"privacyrequest/awaiting-approval", "Suspended", "Awaiting approval: spec.suspend is true", status.InProgressStatus}, // until approved: keep requests out of health waits
	{"privacyrequest/suspended-in-flight", "Suspended", "Awaiting approval", status.InProgressStatus},
	{"privacyrequest/approved", "Progressing", "observe generation 2", status.InProgressStatus},
	{"privacyrequest/no-matching-sources", "Degraded", "NoMatchingSources", status.InProgressStatus},
	{"privacyrequest/subject-secret-refused", "Degraded", "SubjectSecretRefused", status.InProgressStatus},
	{"privacyrequest/export-failed", "Progressing", "ExportFailed", status.InProgressStatus},
	{"privacyrequest/completed", "Healthy", "Completed: All 2 data sources finished", status.CurrentStatus},
	{"privacyrequest/completed-with-holds", "Healthy", "CompletedWithHolds", status.CurrentStatus},
	{"privacyrequest/completed-with-refusals", "Healthy", "CompletedWithRefusals", status.CurrentStatus},
	{"privacyrequest/failed", "Degraded", "Failed: 1 of 2 data sources failed", status.FailedStatus},
	{"privacyrequest/invalid-spec", "Degraded", "InvalidSpec", status.FailedStatus},
	{"privacyrequest/terminating", "Progressing", "Pending deletion", status.TerminatingStatus},

	{"retentionpolicy/new", "Progressing", "observe generation 1", status.CurrentStatus},
	{"retentionpolicy/scheduled", "Healthy", "Scheduled", status.CurrentStatus},
	{"retentionpolicy/purging", "Healthy", "Purging: Purging slot", status.InProgressStatus}, // every night, for as long as the run takes
	{"retentionpolicy/overlapping", "Healthy", "Warning: Other policies cover the same data", status.CurrentStatus},
	{"retentionpolicy/suspended", "Suspended", "Suspended: The policy is suspended", status.CurrentStatus},
	{"retentionpolicy/no-matching-sources", "Degraded", "NoMatchingSources: The policy matches no DataSource.", status.InProgressStatus},
	{"retentionpolicy/run-failed", "Degraded", "RunFailed", status.InProgressStatus},
	{"retentionpolicy/run-failed-running", "Progressing", "Purging", status.InProgressStatus},
	{"retentionpolicy/invalid-schedule", "Degraded", "InvalidSchedule", status.FailedStatus},
	{"retentionpolicy/spec-changed", "Progressing", "observe generation 2", status.InProgressStatus},

	{"legalhold/new", "Progressing", "observe generation 1", status.CurrentStatus},
	{"legalhold/active", "Healthy", "HoldActive", status.CurrentStatus},
	{"legalhold/expired", "Healthy", "HoldExpired", status.CurrentStatus},
	{"legalhold/invalid-selector", "Degraded", "InvalidSpec", status.FailedStatus},
	{"legalhold/spec-changed", "Progressing", "observe generation 2", status.InProgressStatus},

	// A task has no Ready and no observedGeneration: kstatus reads it Current.
	{"privacytask/new", "Progressing", "pick the task up", status.CurrentStatus},
	{"privacytask/open", "Progressing", "TaskOpen", status.CurrentStatus},
	{"privacytask/past-half-sla", "Progressing", "PastHalfSLA", status.CurrentStatus},
	{"privacytask/past-sla", "Degraded", "PastSLA", status.CurrentStatus},
	{"privacytask/past-due-date", "Degraded", "PastDueDate", status.CurrentStatus},
	{"privacytask/completed", "Healthy", "Completed: Completed by bob", status.CurrentStatus},
	{"privacytask/not-found", "Healthy", "NotFound", status.CurrentStatus},
	{"privacytask/failed", "Degraded", "Failed", status.CurrentStatus},
	{"privacytask/refused", "Healthy", "Refused", status.CurrentStatus},
	{"privacytask/held", "Healthy", "LegalHold", status.CurrentStatus},
	{"privacytask/request-finished", "Healthy", "RequestFinished", status.CurrentStatus},

	// An agent is a trust entry: no controller settles it.
	{"authorizedagent/new", "Healthy", "not paired yet", status.CurrentStatus},
	{"authorizedagent/paired", "Healthy", "Paired at 2026-12-07T10:00:00Z", status.CurrentStatus},
	{"authorizedagent/suspended", "Suspended", "spec.suspend", status.CurrentStatus},

	{"restore/new", "Progressing", "observe generation 1", status.CurrentStatus}, // no status at all: kstatus cannot tell
	{"restore/replaying", "Progressing", "Replaying", status.InProgressStatus},
	{"restore/restored", "Healthy", "Restored", status.CurrentStatus},
	{"restore/refused", "Degraded", "BackupOutsideWindow", status.FailedStatus},
	{"restore/failed", "Degraded", "ReplayFailed", status.FailedStatus},
}

func TestArgoCDHealth(t *testing.T) {
	scripts := loadScripts(t)
	for _, s := range states {
		t.Run(s.file, func(t *testing.T) {
			obj := load(t, s.file)
			got, msg, err := argoHealth(scripts[obj.GetKind()], obj)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("Argo CD: %s %q", got, msg)
			if got != s.argo || !strings.Contains(msg, s.message) {
				t.Errorf("Argo CD reads %s %q, want %s with %q", got, msg, s.argo, s.message)
			}
		})
	}
}

func TestKstatus(t *testing.T) {
	for _, s := range states {
		t.Run(s.file, func(t *testing.T) {
			res, err := status.Compute(load(t, s.file))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != s.kstatus {
				t.Errorf("kstatus reads %s (%s), want %s", res.Status, res.Message, s.kstatus)
			}
		})
	}
}

// TestEveryObjectHasAState keeps testdata and the table in step.
func TestEveryObjectHasAState(t *testing.T) {
	listed := map[string]bool{}
	for _, s := range states {
		if listed[s.file] {
			t.Errorf("%s is listed twice", s.file)
		}
		listed[s.file] = true
	}
	files, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(f), "testdata/"), ".yaml")
		if !listed[name] {
			t.Errorf("testdata/%s.yaml has no row in states", name)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("states lists %s, which testdata lacks", name)
	}
	seen := map[string]bool{}
	for _, s := range states {
		seen[load(t, s.file).GetKind()] = true
	}
	for kind := range loadScripts(t) {
		if !seen[kind] {
			t.Errorf("no object of kind %s in testdata", kind)
		}
	}
}

// loadScripts reads the health checks as make manifests puts them into
// argocd-cm, by kind.
func loadScripts(t *testing.T) map[string]string {
	t.Helper()
	scripts, err := snippet.Scripts(scriptsDir)
	if err != nil {
		t.Fatal(err)
	}
	return scripts
}

// load reads testdata/<file>.yaml as GitOps tools see the object.
func load(t *testing.T, file string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return u
}

// argoHealth runs a health check as Argo CD does (util/lua in argo-cd and
// pkg/health in gitops-engine): a deleted object is Progressing before any
// script runs; a script from argocd-cm gets the package, base and table
// libraries only (and a safe os, which these scripts do not use), the
// object as the global obj, and one second; it must return a table whose
// status is a health status.
func argoHealth(script string, obj *unstructured.Unstructured) (healthStatus, message string, err error) {
	if obj.GetDeletionTimestamp() != nil {
		return "Progressing", "Pending deletion", nil
	}
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj.Object))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	hs, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	st, ok1 := hs.RawGetString("status").(lua.LString)
	msg, ok2 := hs.RawGetString("message").(lua.LString)
	if !ok1 || !ok2 {
		return "", "", fmt.Errorf("the script returned status %v and message %v, not two strings", hs.RawGetString("status"), hs.RawGetString("message"))
	}
	switch st {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		return "", "", fmt.Errorf("%q is not an Argo CD health status", st)
	}
	return string(st), string(msg), nil
}

// toLua converts an unstructured value as Argo CD's decodeValue does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}
