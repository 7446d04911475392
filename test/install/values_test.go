package install_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

// manager returns the rendered Deployment's manager container and pod spec.
func manager(t *testing.T, objs []*unstructured.Unstructured) (corev1.Container, corev1.PodSpec) {
	t.Helper()
	ds := ofKind(objs, "Deployment")
	if len(ds) != 1 {
		t.Fatalf("%d Deployments rendered, want 1", len(ds))
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(ds[0].Object, &d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0], d.Spec.Template.Spec
}

func hasArg(c corev1.Container, prefix string) bool {
	return slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, prefix) })
}

// TestChartValues checks what the values that config/ has no counterpart
// for do to the rendered objects.
func TestChartValues(t *testing.T) {
	t.Run("exports.url: object storage, credentials from a Secret, an emptyDir spool, no claim", func(t *testing.T) {
		objs := renderChart(t, map[string]any{"exports": map[string]any{"url": "s3://bucket/prefix", "credentialsSecret": "s3-creds"}})
		c, spec := manager(t, objs)
		if !slices.Contains(c.Args, "--export-url=s3://bucket/prefix") || !hasArg(c, "--export-dir=") {
			t.Errorf("args %q: want --export-url and --export-dir (the spool)", c.Args)
		}
		if len(claims(objs, "exports")) != 0 || spec.Volumes[0].Name != "exports" || spec.Volumes[0].EmptyDir == nil {
			t.Errorf("want an emptyDir spool and no claim: %v", spec.Volumes)
		}
		for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
			if i < 0 || c.Env[i].ValueFrom.SecretKeyRef.Name != "s3-creds" || c.Env[i].ValueFrom.SecretKeyRef.Key != name {
				t.Errorf("env %s from Secret s3-creds missing: %v", name, c.Env)
			}
		}
	})

	t.Run("exports.persistence.existingClaim: no claim made", func(t *testing.T) {
		objs := renderChart(t, map[string]any{"exports": map[string]any{"persistence": map[string]any{"existingClaim": "shared-exports"}}})
		_, spec := manager(t, objs)
		if len(claims(objs, "exports")) != 0 || spec.Volumes[0].PersistentVolumeClaim.ClaimName != "shared-exports" {
			t.Errorf("volumes %v", spec.Volumes)
		}
	})

	t.Run("CRDs: crds.enabled, installCRDs winning when set, crds.keep", func(t *testing.T) {
		for _, tc := range []struct {
			values map[string]any
			want   int
		}{
			{nil, 7},
			{map[string]any{"crds": map[string]any{"enabled": false}}, 0},
			{map[string]any{"installCRDs": false}, 0},
			{map[string]any{"installCRDs": true, "crds": map[string]any{"enabled": false}}, 7},
		} {
			crds := ofKind(renderChart(t, tc.values), "CustomResourceDefinition")
			if len(crds) != tc.want {
				t.Errorf("values %v: %d CRDs, want %d", tc.values, len(crds), tc.want)
			}
			for _, crd := range crds {
				if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
					t.Errorf("CRD %s lacks helm.sh/resource-policy: keep", crd.GetName())
				}
			}
		}
	})

	t.Run("namespaces policy becomes flags", func(t *testing.T) {
		c, _ := manager(t, renderChart(t, map[string]any{"namespaces": map[string]any{
			"datasourceSelector": "", "datasourceNamespaces": []any{"billing", "crm"}, "subjectSecretNamespaces": []any{"desk"},
		}}))
		for _, want := range []string{"--datasource-namespace-selector=", "--datasource-namespaces=billing,crm", "--subject-secret-namespaces=desk"} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("args %q lack %q", c.Args, want)
			}
		}
		if c, _ := manager(t, renderChart(t, nil)); hasArg(c, "--datasource-namespace") || hasArg(c, "--subject-secret") {
			t.Errorf("default args %q set a namespace flag", c.Args)
		}
	})

	t.Run("tls.existingSecret is mounted for --callback-cert-dir; extraArgs come last", func(t *testing.T) {
		c, spec := manager(t, renderChart(t, map[string]any{"tls": map[string]any{"existingSecret": "callback-tls"}, "extraArgs": []any{"--zap-log-level=debug"}}))
		if !slices.Contains(c.Args, "--callback-cert-dir=/certs") || c.Args[len(c.Args)-1] != "--zap-log-level=debug" {
			t.Errorf("args %q", c.Args)
		}
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == "callback-tls" }) {
			t.Errorf("volumes %v lack the Secret callback-tls", spec.Volumes)
		}
	})

	t.Run("networkPolicy admits the namespaces of namespaces.datasourceNamespaces by name", func(t *testing.T) {
		// ci/ha-values.yaml lets billing and crm in by name, not by label.
		from := callbackPeers(t, renderChart(t, nil, "ci/ha-values.yaml"))
		if !slices.ContainsFunc(from, func(p networkingv1.NetworkPolicyPeer) bool { return isNamesPeer(p, "billing", "crm") }) {
			t.Errorf("callback peers %+v do not admit the namespaces billing and crm by name", from)
		}
		if !slices.ContainsFunc(from, func(p networkingv1.NetworkPolicyPeer) bool {
			return p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels["privacyoperator.io/datasource"] == "true"
		}) {
			t.Errorf("callback peers %+v lost the labelled namespaces", from)
		}
		withoutNames := renderChart(t, map[string]any{"networkPolicy": map[string]any{"enabled": true}})
		if slices.ContainsFunc(callbackPeers(t, withoutNames), func(p networkingv1.NetworkPolicyPeer) bool {
			return p.NamespaceSelector != nil && len(p.NamespaceSelector.MatchExpressions) > 0
		}) {
			t.Errorf("without datasourceNamespaces the policy admits namespaces by name")
		}
	})

	t.Run("tls.certManager: a CA of the release's own signs the callback certificate", func(t *testing.T) {
		objs := renderChart(t, map[string]any{"tls": map[string]any{"certManager": map[string]any{"enabled": true}}})
		byName := map[string]*unstructured.Unstructured{}
		for _, c := range ofKind(objs, "Certificate") {
			byName[c.GetName()] = c
		}
		ca, serving := byName["privacy-operator-callback-ca"], byName["privacy-operator-callback-tls"]
		if ca == nil || serving == nil {
			t.Fatalf("Certificates %v, want the CA and the callback certificate", slices.Collect(maps.Keys(byName)))
		}
		if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA {
			t.Errorf("the CA certificate is not isCA")
		}
		if issuer, _, _ := unstructured.NestedString(serving.Object, "spec", "issuerRef", "name"); issuer != "privacy-operator-callback-ca" {
			t.Errorf("the callback certificate is issued by %q, want the CA Issuer (its ca.crt must be the CA, not itself)", issuer)
		}
		issuers := map[string]bool{}
		for _, i := range ofKind(objs, "Issuer") {
			_, selfSigned, _ := unstructured.NestedMap(i.Object, "spec", "selfSigned")
			secret, _, _ := unstructured.NestedString(i.Object, "spec", "ca", "secretName")
			issuers[i.GetName()] = selfSigned || secret == "privacy-operator-callback-ca"
		}
		if !issuers["privacy-operator-selfsigned"] || !issuers["privacy-operator-callback-ca"] {
			t.Errorf("Issuers %v: want the self-signed one and the CA Issuer over the CA's Secret", issuers)
		}
	})

	t.Run("tls.certManager: the Certificate names the host of callbacks.baseURL", func(t *testing.T) {
		svc := "privacy-operator-callbacks.privacy-operator-system.svc"
		for _, tc := range []struct {
			baseURL   string
			dns, ips  []string
			serverArg string
		}{
			{"", []string{svc, svc + ".cluster.local"}, nil, "https://" + svc + ":9443"},
			{"https://Callbacks.Example.com/po", []string{svc, svc + ".cluster.local", "callbacks.example.com"}, nil, ""},
			{"https://" + svc + ":9443", []string{svc, svc + ".cluster.local"}, nil, ""},
			{"https://10.0.0.7:9443", []string{svc, svc + ".cluster.local"}, []string{"10.0.0.7"}, ""},
			{"https://[fd00::7]:9443", []string{svc, svc + ".cluster.local"}, []string{"fd00::7"}, ""},
		} {
			objs := renderChart(t, map[string]any{
				"tls":       map[string]any{"certManager": map[string]any{"enabled": true}},
				"callbacks": map[string]any{"baseURL": tc.baseURL},
			})
			var certs []*unstructured.Unstructured
			for _, c := range ofKind(objs, "Certificate") {
				if isCA, _, _ := unstructured.NestedBool(c.Object, "spec", "isCA"); !isCA {
					certs = append(certs, c)
				}
			}
			if len(certs) != 1 {
				t.Fatalf("%d serving Certificates rendered, want 1", len(certs))
			}
			dns, _, _ := unstructured.NestedStringSlice(certs[0].Object, "spec", "dnsNames")
			ips, _, _ := unstructured.NestedStringSlice(certs[0].Object, "spec", "ipAddresses")
			if !slices.Equal(dns, tc.dns) || !slices.Equal(ips, tc.ips) {
				t.Errorf("callbacks.baseURL %q: dnsNames %q, ipAddresses %q; want %q, %q", tc.baseURL, dns, ips, tc.dns, tc.ips)
			}
			want := tc.serverArg
			if want == "" {
				want = tc.baseURL
			}
			if c, _ := manager(t, objs); !slices.Contains(c.Args, "--callback-base-url="+want) {
				t.Errorf("args %q lack --callback-base-url=%s", c.Args, want)
			}
		}
	})

	for _, volume := range []string{"exports", "receipts"} {
		t.Run(volume+" claim: ReadWriteMany with replicas, ReadWriteOnce with one, or as set", func(t *testing.T) {
			for _, tc := range []struct {
				values map[string]any
				want   []string
			}{
				{nil, []string{"ReadWriteMany"}},
				{map[string]any{"replicaCount": 1}, []string{"ReadWriteOnce"}},
				{map[string]any{"replicaCount": 3}, []string{"ReadWriteMany"}},
				{map[string]any{"replicaCount": 1, volume: map[string]any{"persistence": map[string]any{"accessModes": []any{"ReadWriteMany"}}}}, []string{"ReadWriteMany"}},
			} {
				found := claims(renderChart(t, tc.values), volume)
				if len(found) != 1 {
					t.Fatalf("values %v: %d %s claims, want 1", tc.values, len(found), volume)
				}
				if got, _, _ := unstructured.NestedStringSlice(found[0].Object, "spec", "accessModes"); !slices.Equal(got, tc.want) {
					t.Errorf("values %v: accessModes %q, want %q", tc.values, got, tc.want)
				}
			}
		})
	}

	t.Run("receipts.url: object storage, no claim, no receipts volume", func(t *testing.T) {
		objs := renderChart(t, map[string]any{"receipts": map[string]any{"url": "s3://bucket/receipts", "retention": "1000d"}})
		c, spec := manager(t, objs)
		if !slices.Contains(c.Args, "--receipt-url=s3://bucket/receipts") || !slices.Contains(c.Args, "--receipt-retention=1000d") || hasArg(c, "--receipt-dir=") {
			t.Errorf("args %q: want --receipt-url and --receipt-retention, no --receipt-dir", c.Args)
		}
		if len(claims(objs, "receipts")) != 0 || slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "receipts" }) {
			t.Errorf("want no receipts claim or volume: %v", spec.Volumes)
		}
	})

	t.Run("NOTES warn when replicas share a directory export store", func(t *testing.T) {
		warning := "WARNING: 2 replicas keep Access exports in a directory on the shared\nvolume privacy-operator-exports, which must be ReadWriteMany"
		notes := renderNotes(t, nil)
		for _, want := range []string{warning, "kind's local-path", "exports.url", "--set replicaCount=1",
			"kubectl -n privacy-operator-system get persistentvolumeclaim privacy-operator-exports"} {
			if !strings.Contains(notes, want) {
				t.Errorf("default NOTES lack %q:\n%s", want, notes)
			}
		}
		if notes := renderNotes(t, map[string]any{"replicaCount": 3, "exports": map[string]any{"persistence": map[string]any{"existingClaim": "shared"}}}); !strings.Contains(notes, "WARNING: 3 replicas") || !strings.Contains(notes, "persistentvolumeclaim shared") {
			t.Errorf("NOTES with an existing claim do not warn about it:\n%s", notes)
		}
		receiptsWarning := "WARNING: 2 replicas keep the receipt log in a directory on the shared\nvolume privacy-operator-receipts, which must be ReadWriteMany"
		if notes := renderNotes(t, map[string]any{"exports": map[string]any{"url": "s3://bucket/prefix"}}); !strings.Contains(notes, receiptsWarning) ||
			strings.Contains(notes, "privacy-operator-exports") || !strings.Contains(notes, "receipts.url") {
			t.Errorf("exports in S3, receipts on the volume: NOTES do not warn about the receipts volume alone:\n%s", notes)
		}
		for _, values := range []map[string]any{
			{"replicaCount": 1},
			{"exports": map[string]any{"url": "s3://bucket/prefix"}, "receipts": map[string]any{"url": "s3://bucket/receipts"}},
			valuesFile(t, "ci/ha-values.yaml"),
		} {
			if notes := renderNotes(t, values); strings.Contains(notes, "WARNING") {
				t.Errorf("values %v: NOTES warn although no volume is shared:\n%s", values, notes)
			}
		}
	})

	t.Run("progressDeadlineSeconds: a rollout stuck on a Pending claim reads Degraded after it", func(t *testing.T) {
		for values, want := range map[string]int64{"": 300, "120": 120} {
			v := map[string]any{}
			if values != "" {
				v["progressDeadlineSeconds"] = 120
			}
			for _, o := range ofKind(renderChart(t, v), "Deployment") {
				v, ok, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "progressDeadlineSeconds")
				if got := fmt.Sprint(v); !ok || got != fmt.Sprint(want) {
					t.Errorf("values %v: Deployment %s has progressDeadlineSeconds %s (set %v), want %d", v, o.GetName(), got, ok, want)
				}
			}
		}
	})

	t.Run("NOTES name every role the chart makes for people", func(t *testing.T) {
		notes := renderNotes(t, nil)
		for _, o := range renderChart(t, nil) {
			if (o.GetKind() != "ClusterRole" && o.GetKind() != "Role") || strings.Contains(o.GetName(), "manager") ||
				strings.Contains(o.GetName(), "leader") || strings.Contains(o.GetName(), "center") || strings.Contains(o.GetName(), "callback-ca") ||
				strings.Contains(o.GetName(), "metrics-auth") {
				continue
			}
			if !strings.Contains(notes, o.GetName()+" ") {
				t.Errorf("NOTES do not name the %s %s:\n%s", o.GetKind(), o.GetName(), notes)
			}
		}
	})

	t.Run("manager Roles: leases get/create/update, the callback CA by name", func(t *testing.T) {
		objs := renderChart(t, nil)
		le := role(t, objs, "privacy-operator-leader-election-role")
		for _, r := range le.Rules {
			if slices.Contains(r.Resources, "leases") && !slices.Equal(r.Verbs, []string{"get", "create", "update"}) {
				t.Errorf("leases: verbs %q, want get, create, update", r.Verbs)
			}
		}
		checkCARole(t, role(t, objs, "privacy-operator-callback-ca-role"), "privacy-operator-callback-ca")
		renamed := renderChart(t, map[string]any{"extraArgs": []any{"--callback-ca-name=first", "--callback-ca-name=team-ca"}})
		checkCARole(t, role(t, renamed, "privacy-operator-callback-ca-role"), "team-ca")
	})

	t.Run("serviceMonitor.tlsConfig replaces skip-verify", func(t *testing.T) {
		tlsConfig := func(values map[string]any) map[string]any {
			sm := ofKind(renderChart(t, values), "ServiceMonitor")
			if len(sm) != 1 {
				t.Fatalf("%d ServiceMonitors, want 1", len(sm))
			}
			endpoints, _, _ := unstructured.NestedSlice(sm[0].Object, "spec", "endpoints")
			c, _, _ := unstructured.NestedMap(endpoints[0].(map[string]any), "tlsConfig")
			return c
		}
		if c := tlsConfig(map[string]any{"serviceMonitor": map[string]any{"enabled": true}}); c["insecureSkipVerify"] != true {
			t.Errorf("default tlsConfig %v", c)
		}
		ca := map[string]any{"secret": map[string]any{"name": "metrics-ca", "key": "ca.crt"}}
		c := tlsConfig(map[string]any{"serviceMonitor": map[string]any{"enabled": true, "tlsConfig": map[string]any{
			"insecureSkipVerify": false, "serverName": "privacy-operator-metrics.privacy-operator-system.svc", "ca": ca}}})
		if c["insecureSkipVerify"] != false || c["serverName"] == nil || c["ca"] == nil {
			t.Errorf("tlsConfig %v: want verification with the given CA", c)
		}
	})

	t.Run("another release name and namespace", func(t *testing.T) {
		out, err := packaging.RenderChart(chartDir, packaging.Release{Name: "po", Namespace: "privacy", KubeVersion: packaging.DefaultRelease.KubeVersion}, nil, nil)
		objs := mustDecode(t, out, err)
		c, spec := manager(t, objs)
		if spec.ServiceAccountName != "po-privacy-operator-controller-manager" ||
			!slices.Contains(c.Args, "--callback-base-url=https://po-privacy-operator-callbacks.privacy.svc:9443") {
			t.Errorf("service account %q, args %q", spec.ServiceAccountName, c.Args)
		}
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" && !strings.HasPrefix(o.GetName(), "po-privacy-operator-") {
				t.Errorf("%s %s is not named after the release", o.GetKind(), o.GetName())
			}
		}
	})
}

// TestInstallerIsCurrent fails when dist/install.yaml is not what
// `make installer` makes of config/default now (for the image it names).
func TestInstallerIsCurrent(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join(repo, "dist", "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := manager(t, mustDecode(t, committed, nil))
	fresh, err := packaging.Installer(repo, c.Image)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, fresh) {
		t.Errorf("dist/install.yaml is stale: run `make installer` (IMG=%s) and commit it", c.Image)
	}
}

// TestChartLint runs `helm lint`'s checks (the Helm library's lint
// package): Chart.yaml, values, templates, object names and the API
// versions of what they render. A warning or an error fails it.
func TestChartLint(t *testing.T) {
	kube, err := chartutil.ParseKubeVersion(packaging.DefaultRelease.KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, values := range []string{"", "ci/ha-values.yaml", "ci/cert-manager-values.yaml", "ci/s3-workload-identity-values.yaml", "ci/privacy-center-values.yaml"} {
		vals := map[string]any{}
		if values != "" {
			v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, values))
			if err != nil {
				t.Fatal(err)
			}
			vals = v.AsMap()
		}
		linter := lint.AllWithKubeVersion(chartDir, vals, packaging.DefaultRelease.Namespace, kube)
		for _, m := range linter.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("helm lint (values %q): %s", values, m)
			} else {
				t.Logf("helm lint (values %q): %s", values, m)
			}
		}
	}
}

// claims are the PersistentVolumeClaims whose name ends in -volume.
func claims(objs []*unstructured.Unstructured, volume string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range ofKind(objs, "PersistentVolumeClaim") {
		if strings.HasSuffix(o.GetName(), "-"+volume) {
			out = append(out, o)
		}
	}
	return out
}

// TestInstallerOrder: `kubectl apply -f dist/install.yaml` sends the
// objects in the file's order, so the Namespace must come before every
// object in it, and the CRDs before any object of their kinds. (Found on a
// real cluster by test/cluster: the first apply failed with `namespaces
// "privacy-operator-system" not found`.)
func TestInstallerOrder(t *testing.T) {
	installer, err := os.ReadFile(filepath.Join(repo, "dist", "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]bool{}
	for _, o := range mustDecode(t, installer, nil) {
		if ns := o.GetNamespace(); ns != "" && !created["Namespace/"+ns] {
			t.Errorf("%s %s/%s comes before its Namespace", o.GetKind(), ns, o.GetName())
		}
		if o.GetAPIVersion() == "privacyoperator.io/v1alpha1" && !created["CRD/"+o.GetKind()] {
			t.Errorf("%s %s comes before its CustomResourceDefinition", o.GetKind(), o.GetName())
		}
		created[o.GetKind()+"/"+o.GetName()] = true
		if o.GetKind() == "CustomResourceDefinition" {
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			created["CRD/"+kind] = true
		}
	}
}
