package install_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
)

// centerName is the name of the privacy center's objects in the default
// release (and in config/privacy-center).
const centerName = "privacy-operator-privacy-center"

// centerValues enables the privacy center with what it requires and
// config/privacy-center's example configuration, with config/manager's
// image.
func centerValues() map[string]any {
	return map[string]any{
		"image": configImage["image"],
		"privacyCenter": map[string]any{
			"enabled": true, "keysSecret": "privacy-center-keys", "smtpSecret": "privacy-center-smtp",
			"config": map[string]any{
				"baseURL":  "https://privacy.example.com",
				"branding": map[string]any{"companyName": "Example Company"},
				"smtp":     map[string]any{"host": "smtp.example.com", "from": "Example Privacy <privacy@example.com>"},
			},
		},
	}
}

// with returns values with privacyCenter's keys (or, for a dotted key, one
// nested value) replaced.
func with(values map[string]any, path string, v any) map[string]any {
	out := map[string]any{}
	b, _ := yaml.Marshal(values)
	_ = yaml.Unmarshal(b, &out)
	m := out
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
	return out
}

// centerObjects are the rendered objects of the privacy center (by the
// component label, or the name for those without labels of the chart).
func centerObjects(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetLabels()["app.kubernetes.io/component"] == "privacy-center" || strings.Contains(o.GetName(), "privacy-center") {
			out = append(out, o)
		}
	}
	return out
}

// center returns the rendered center Deployment.
func center(t *testing.T, objs []*unstructured.Unstructured) appsv1.Deployment {
	t.Helper()
	return rendered[appsv1.Deployment](t, objs, "Deployment", "", centerName)
}

// centerConfig returns the configuration file the chart renders for the
// center, as the center reads it.
func centerConfig(t *testing.T, objs []*unstructured.Unstructured) (string, config.Config) {
	t.Helper()
	for _, o := range ofKind(objs, "ConfigMap") {
		if o.GetName() != centerName {
			continue
		}
		data, _, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path)
		if err != nil {
			t.Fatalf("the center refuses the rendered configuration: %v\n%s", err, data)
		}
		return data, c
	}
	t.Fatalf("no ConfigMap %s rendered", centerName)
	return "", config.Config{}
}

// renderError renders the chart and returns the error it must fail with.
func renderError(t *testing.T, values map[string]any) string {
	t.Helper()
	_, err := packaging.RenderChart(chartDir, packaging.DefaultRelease, nil, values)
	if err == nil {
		t.Fatalf("values %v render", values)
	}
	return err.Error()
}

// TestPrivacyCenterChart checks what privacyCenter's values do to the
// rendered objects.
func TestPrivacyCenterChart(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		if objs := centerObjects(renderChart(t, nil)); len(objs) != 0 {
			t.Errorf("the default values render %d objects of the center, the first %s %s", len(objs), objs[0].GetKind(), objs[0].GetName())
		}
	})

	t.Run("the render fails naming a missing required value", func(t *testing.T) {
		for value, want := range map[string]string{
			"privacyCenter.keysSecret":       "privacyCenter.keysSecret is required with privacyCenter.enabled",
			"privacyCenter.config.baseURL":   "privacyCenter.config.baseURL is required",
			"privacyCenter.config.smtp.host": "privacyCenter.config.smtp.host is required",
			"privacyCenter.config.smtp.from": "privacyCenter.config.smtp.from is required",
		} {
			if err := renderError(t, with(centerValues(), value, "")); !strings.Contains(err, want) {
				t.Errorf("without %s: %s, want %q", value, err, want)
			}
		}
	})

	t.Run("the Deployment: /privacy-center with its config, keys and SMTP Secret, probed on /healthz, two replicas spread", func(t *testing.T) {
		d := center(t, renderChart(t, centerValues()))
		spec := d.Spec.Template.Spec
		c := spec.Containers[0]
		if *d.Spec.Replicas != 2 || spec.ServiceAccountName != centerName || !slices.Equal(c.Command, []string{"/privacy-center"}) ||
			!slices.Equal(c.Args, []string{"--config=/etc/privacy-center/config/config.yaml", "--keys-dir=/etc/privacy-center/keys", "--bind-address=:8080"}) {
			t.Errorf("replicas %d, service account %q, command %q, args %q", *d.Spec.Replicas, spec.ServiceAccountName, c.Command, c.Args)
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.StrVal != "http" {
				t.Errorf("probe %+v, want GET /healthz on port http", p)
			}
		}
		mounts := map[string]string{}
		for _, m := range c.VolumeMounts {
			mounts[m.Name] = m.MountPath
		}
		sources := map[string]string{}
		for _, v := range spec.Volumes {
			switch {
			case v.Secret != nil:
				sources[v.Name] = v.Secret.SecretName
			case v.ConfigMap != nil:
				sources[v.Name] = v.ConfigMap.Name
			}
		}
		if !cmp.Equal(mounts, map[string]string{"config": "/etc/privacy-center/config", "keys": "/etc/privacy-center/keys", "smtp": "/etc/privacy-center/smtp"}) ||
			!cmp.Equal(sources, map[string]string{"config": centerName, "keys": "privacy-center-keys", "smtp": "privacy-center-smtp"}) {
			t.Errorf("mounts %v from %v", mounts, sources)
		}
		if len(c.Env) != 2 || c.Env[0].Name != "POD_NAMESPACE" || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.namespace" ||
			c.Env[1].Name != "SERVICE_ACCOUNT_NAME" || c.Env[1].ValueFrom.FieldRef.FieldPath != "spec.serviceAccountName" {
			t.Errorf("env %+v, want POD_NAMESPACE (where the notices' Lease is) and SERVICE_ACCOUNT_NAME (spec.requester)", c.Env)
		}
		if len(spec.TopologySpreadConstraints) != 1 || spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app.kubernetes.io/component"] != "privacy-center" {
			t.Errorf("spread %+v, want over hostnames by the center's labels", spec.TopologySpreadConstraints)
		}
		without := center(t, renderChart(t, with(centerValues(), "privacyCenter.smtpSecret", "")))
		if len(without.Spec.Template.Spec.Volumes) != 2 || len(without.Spec.Template.Spec.Containers[0].VolumeMounts) != 2 {
			t.Errorf("without smtpSecret: volumes %+v, want config and keys", without.Spec.Template.Spec.Volumes)
		}
	})

	t.Run("Access exports: read-only from the operator's volume, or from the bucket with its own keys", func(t *testing.T) {
		objs := renderChart(t, with(centerValues(), "privacyCenter.exports.fromVolume", true))
		if _, c := centerConfig(t, objs); c.Exports.Dir != "/var/lib/privacy-operator/exports" || c.Exports.S3 != nil {
			t.Errorf("fromVolume: exports %+v, want the operator's export dir", c.Exports)
		}
		spec := center(t, objs).Spec.Template.Spec
		var claim *corev1.PersistentVolumeClaimVolumeSource
		for _, v := range spec.Volumes {
			if v.Name == "exports" {
				claim = v.PersistentVolumeClaim
			}
		}
		readOnly := false
		for _, m := range spec.Containers[0].VolumeMounts {
			readOnly = readOnly || (m.Name == "exports" && m.ReadOnly && m.MountPath == "/var/lib/privacy-operator/exports")
		}
		if claim == nil || claim.ClaimName != "privacy-operator-exports" || !claim.ReadOnly || !readOnly {
			t.Errorf("fromVolume: claim %+v, mounted read-only %v", claim, readOnly)
		}
		if err := renderError(t, with(with(centerValues(), "privacyCenter.exports.fromVolume", true), "exports.url", "s3://bucket/prefix")); !strings.Contains(err, "set privacyCenter.config.exports.s3 instead") {
			t.Errorf("fromVolume with exports.url: %s", err)
		}
		bucket := with(with(centerValues(), "privacyCenter.exports.s3CredentialsSecret", "export-reader"),
			"privacyCenter.config.exports", map[string]any{"s3": map[string]any{"bucket": "exports", "endpoint": "https://s3.example.com", "pathStyle": true}})
		objs = renderChart(t, bucket)
		if _, c := centerConfig(t, objs); c.Exports.S3 == nil || c.Exports.S3.Bucket != "exports" || c.Exports.S3.CredentialsDir != "/etc/privacy-center/s3" {
			t.Errorf("s3: exports %+v", c.Exports)
		}
		found := false
		for _, v := range center(t, objs).Spec.Template.Spec.Volumes {
			found = found || (v.Name == "export-bucket" && v.Secret != nil && v.Secret.SecretName == "export-reader")
		}
		if !found {
			t.Error("s3CredentialsSecret is not mounted")
		}

		links := renderChart(t, with(centerValues(), "privacyCenter.unsubscribe.issuerTokenSecret", "mail-system-token"))
		if _, c := centerConfig(t, links); c.Unsubscribe == nil || c.Unsubscribe.IssuerTokenFile != "/etc/privacy-center/unsubscribe/token" ||
			!slices.Equal(c.Unsubscribe.Scopes, []string{"email-marketing"}) {
			t.Errorf("unsubscribe.issuerTokenSecret: configuration %+v", c.Unsubscribe)
		}
		mounted, volume := false, false
		pod := center(t, links).Spec.Template.Spec
		for _, m := range pod.Containers[0].VolumeMounts {
			mounted = mounted || (m.Name == "unsubscribe" && m.MountPath == "/etc/privacy-center/unsubscribe" && m.ReadOnly)
		}
		for _, v := range pod.Volumes {
			volume = volume || (v.Name == "unsubscribe" && v.Secret != nil && v.Secret.SecretName == "mail-system-token")
		}
		if !mounted || !volume {
			t.Errorf("unsubscribe.issuerTokenSecret is not mounted (mount %v, volume %v)", mounted, volume)
		}
		mailIn := renderChart(t, with(centerValues(), "privacyCenter.config.mailIn", map[string]any{"addresses": []any{"privacy@example.com"}, "listen": ":25"}))
		if _, c := centerConfig(t, mailIn); c.MailIn == nil || c.MailIn.Listen != ":2525" || c.MailIn.Addresses[0] != "privacy@example.com" {
			t.Errorf("mailIn: configuration %+v, want the listener on the container's port 2525", c.MailIn)
		}
		smtpPort := false
		for _, o := range ofKind(mailIn, "Service") {
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			for _, p := range ports {
				pm := p.(map[string]any)
				smtpPort = smtpPort || (o.GetName() == centerName && pm["name"] == "smtp" && fmt.Sprint(pm["port"]) == "25" && pm["targetPort"] == "smtp")
			}
		}
		if c := center(t, mailIn).Spec.Template.Spec.Containers[0]; !smtpPort || len(c.Ports) != 2 || c.Ports[1].ContainerPort != 2525 {
			t.Errorf("mailIn: Service port 25 -> smtp %v, container ports %+v", smtpPort, c.Ports)
		}
		// The center's NetworkPolicy: web port as configured, mail port only
		// to smtpFrom, none without networkPolicy.enabled.
		mx := []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.25/32"}}}
		policed := with(with(with(centerValues(), "networkPolicy.enabled", true), "privacyCenter.config.mailIn",
			map[string]any{"addresses": []any{"privacy@example.com"}}), "privacyCenter.networkPolicy.smtpFrom", mx)
		centerPolicy := func(objs []*unstructured.Unstructured) []any {
			for _, np := range ofKind(objs, "NetworkPolicy") {
				if np.GetName() == centerName {
					rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
					return rules
				}
			}
			return nil
		}
		rules := centerPolicy(renderChart(t, policed))
		if len(rules) != 2 || fmt.Sprint(rules[0]) != "map[ports:[map[port:http protocol:TCP]]]" ||
			fmt.Sprint(rules[1]) != "map[from:[map[ipBlock:map[cidr:192.0.2.25/32]]] ports:[map[port:smtp protocol:TCP]]]" {
			t.Errorf("the center's NetworkPolicy rules %v: want the web port open and the mail port to the MX alone", rules)
		}
		if rules := centerPolicy(renderChart(t, with(policed, "privacyCenter.networkPolicy.smtpFrom", []any{}))); len(rules) != 1 {
			t.Errorf("no smtpFrom: rules %v, want the web port alone (the mail port closed)", rules)
		}
		if rules := centerPolicy(renderChart(t, with(centerValues(), "privacyCenter.config.mailIn", map[string]any{"addresses": []any{"privacy@example.com"}}))); rules != nil {
			t.Errorf("networkPolicy.enabled unset: a center NetworkPolicy %v", rules)
		}
		if _, c := centerConfig(t, renderChart(t, centerValues())); c.Unsubscribe != nil {
			t.Errorf("no issuer token, yet unsubscribe links: %+v", c.Unsubscribe)
		}
	})

	t.Run("the ConfigMap: a configuration the center accepts, its subject namespace and approval filled in; the pods roll with it", func(t *testing.T) {
		objs := renderChart(t, centerValues())
		_, c := centerConfig(t, objs)
		if c.SubjectNamespace != packaging.DefaultRelease.Namespace || c.RequireApproval || c.SMTP.UsernameFile != "/etc/privacy-center/smtp/username" ||
			c.SMTP.PasswordFile != "/etc/privacy-center/smtp/password" || c.SMTP.Port != 587 || c.SMTP.TLS != "starttls" {
			t.Errorf("configuration %+v", c)
		}
		_, reviewed := centerConfig(t, renderChart(t, with(with(centerValues(), "approvalPolicy.requireApproval", true),
			"namespaces.subjectSecretNamespaces", []any{"privacy-desk", "privacy-center-subjects"})))
		if !reviewed.RequireApproval || reviewed.SubjectNamespace != "privacy-desk" {
			t.Errorf("with approvalPolicy.requireApproval and other subject namespaces: requireApproval %v, subjectNamespace %s", reviewed.RequireApproval, reviewed.SubjectNamespace)
		}
		if _, ci := centerConfig(t, renderChart(t, nil, "ci/privacy-center-values.yaml")); len(ci.Regulations) != 2 || len(ci.TrustedProxies) != 1 || !ci.RequireApproval {
			t.Errorf("ci/privacy-center-values.yaml's configuration %+v", ci)
		}
		before := center(t, objs).Spec.Template.Annotations["checksum/config"]
		after := center(t, renderChart(t, with(centerValues(), "privacyCenter.config.linkTTL", "10m"))).Spec.Template.Annotations["checksum/config"]
		if before == "" || before == after {
			t.Errorf("checksum/config %q, then %q with another linkTTL: want it to change", before, after)
		}
	})

	t.Run("the render fails on a subject namespace the manager does not read, and on approvals the center would not ask for", func(t *testing.T) {
		err := renderError(t, with(centerValues(), "privacyCenter.config.subjectNamespace", "elsewhere"))
		if !strings.Contains(err, "privacyCenter.config.subjectNamespace elsewhere is not one of the namespaces the manager reads subject Secrets in") {
			t.Errorf("subjectNamespace elsewhere: %s", err)
		}
		err = renderError(t, with(with(centerValues(), "approvalPolicy.requireApproval", true), "privacyCenter.config.requireApproval", false))
		if !strings.Contains(err, "privacyCenter.config.requireApproval is false but approvalPolicy.requireApproval") {
			t.Errorf("requireApproval false under approvalPolicy.requireApproval: %s", err)
		}
	})

	t.Run("Service, PodDisruptionBudget, and the Ingress only when enabled", func(t *testing.T) {
		objs := renderChart(t, centerValues())
		if len(ofKind(centerObjects(objs), "Service")) != 1 || len(ofKind(centerObjects(objs), "PodDisruptionBudget")) != 1 || len(ofKind(objs, "Ingress")) != 0 {
			t.Errorf("want a Service, a PodDisruptionBudget and no Ingress")
		}
		ingresses := ofKind(renderChart(t, nil, "ci/privacy-center-values.yaml"), "Ingress")
		if len(ingresses) != 1 {
			t.Fatalf("%d Ingresses with ci/privacy-center-values.yaml, want 1", len(ingresses))
		}
		var ing networkingv1.Ingress
		convert(t, ingresses[0], &ing)
		backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
		if *ing.Spec.IngressClassName != "nginx" || ing.Spec.Rules[0].Host != "privacy.example.com" || backend.Name != centerName || backend.Port.Name != "http" ||
			ing.Spec.TLS[0].SecretName != "privacy-example-com-tls" || !slices.Equal(ing.Spec.TLS[0].Hosts, []string{"privacy.example.com"}) ||
			ing.Annotations["cert-manager.io/cluster-issuer"] != "letsencrypt" {
			t.Errorf("Ingress %+v", ing)
		}
	})

	t.Run("NOTES: where the center is; a warning where its reviewed requests would be refused", func(t *testing.T) {
		values := valuesFile(t, "ci/privacy-center-values.yaml")
		warning := "WARNING: the privacy center files its requests suspended for review"
		notes := renderNotes(t, values)
		if !strings.Contains(notes, "The privacy center serves https://privacy.example.com") ||
			!strings.Contains(notes, "rollout status deployment/"+centerName) || strings.Contains(notes, warning) {
			t.Errorf("NOTES with the center on a cluster with the requester stamp:\n%s", notes)
		}
		older := packaging.DefaultRelease
		older.KubeVersion, older.APIVersions = "v1.33.0", nil
		if notes := renderNotesFor(t, older, values); !strings.Contains(notes, warning) {
			t.Errorf("NOTES with requireApproval and no requester stamp do not warn:\n%s", notes)
		}
	})

	t.Run("RBAC: PrivacyRequests without update or delete, Secrets of the subject namespace unread, its Lease, nothing else", func(t *testing.T) {
		objs := renderChart(t, nil, "ci/privacy-center-values.yaml")
		var rules []string
		for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
			for _, o := range ofKind(objs, kind) {
				var b rbacv1.RoleBinding // a ClusterRoleBinding converts alike
				convert(t, o, &b)
				if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Name == centerName }) {
					continue
				}
				// A Role converts into a ClusterRole alike.
				for _, r := range rendered[rbacv1.ClusterRole](t, objs, b.RoleRef.Kind, b.Namespace, b.RoleRef.Name).Rules {
					rules = append(rules, b.Namespace+": "+strings.Join(r.APIGroups, ",")+"/"+strings.Join(r.Resources, ",")+" "+
						strings.Join(r.ResourceNames, ",")+" "+strings.Join(r.Verbs, ","))
				}
			}
		}
		slices.Sort(rules)
		want := []string{
			": privacyoperator.io/authorizedagents  get,list,watch",
			": privacyoperator.io/authorizedagents/status  patch",
			": privacyoperator.io/privacyrequests  create,get,list,watch,patch,delete",
			"privacy-center-subjects: /secrets  create,patch,delete",
			"privacy-operator-system: /events  create,patch",
			"privacy-operator-system: coordination.k8s.io/leases  create",
			"privacy-operator-system: coordination.k8s.io/leases privacy-center-notices get,update",
		}
		if !slices.Equal(rules, want) {
			t.Errorf("the center's ServiceAccount is granted %q, want %q", rules, want)
		}
	})
}

// TestPrivacyCenterMatchesConfig holds the chart's privacy center and
// config/privacy-center together, as TestChartMatchesConfig does the
// operator: config/default and config/privacy-center are the chart with
// centerValues. The one difference allowed is the chart's checksum/config
// annotation (kustomize has no render of the ConfigMap to hash); the
// configuration file is compared as YAML, not as text.
func TestPrivacyCenterMatchesConfig(t *testing.T) {
	config := append(withoutNamespace(t, kustomize(t, "default")), kustomize(t, "privacy-center")...)
	chart := renderChart(t, centerValues())
	for _, o := range chart {
		if o.GetKind() != "Deployment" || o.GetName() != centerName {
			continue
		}
		annotations, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations")
		if annotations["checksum/config"] == "" {
			t.Errorf("the chart's center pods lack checksum/config")
		}
		delete(annotations, "checksum/config")
		if len(annotations) == 0 {
			unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations")
		} else if err := unstructured.SetNestedStringMap(o.Object, annotations, "spec", "template", "metadata", "annotations"); err != nil {
			t.Fatal(err)
		}
	}
	for _, objs := range [][]*unstructured.Unstructured{config, chart} {
		for _, o := range ofKind(objs, "ConfigMap") {
			if o.GetName() == centerName {
				canonicalConfig(t, o)
			}
		}
	}
	compare(t, config, chart)
}

// canonicalConfig rewrites a ConfigMap's config.yaml as YAML of its own,
// without comments, keys sorted.
func canonicalConfig(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	data, _, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
	var v any
	if err := yaml.Unmarshal([]byte(data), &v); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(o.Object, string(b), "data", "config.yaml"); err != nil {
		t.Fatal(err)
	}
}
