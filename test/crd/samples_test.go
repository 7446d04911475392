package crd_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/privacyoperator/privacy-operator/test/testenv"
)

var samplesDir = filepath.Join(testenv.RepoRoot(), "config", "samples")

// readObjects decodes every YAML document of a file.
func readObjects(path string) []*unstructured.Unstructured {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		Expect(err).NotTo(HaveOccurred())
		obj := &unstructured.Unstructured{}
		Expect(utilyaml.Unmarshal(doc, &obj.Object)).To(Succeed(), "decode %s", path)
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// createIn creates obj with a unique name, in namespace ns when it is namespaced.
func createIn(ns string, obj *unstructured.Unstructured) error {
	obj.SetName(obj.GetName() + "-" + rand.String(5))
	namespaced, err := k8sClient.IsObjectNamespaced(obj)
	Expect(err).NotTo(HaveOccurred())
	if namespaced {
		obj.SetNamespace(ns)
	}
	return k8sClient.Create(ctx, obj)
}

func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-test-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func sampleFiles(dir string) []string {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		panic("no samples in " + dir)
	}
	return files
}

var _ = Describe("CRD installation", func() {
	for _, name := range []string{"datasources", "privacyrequests", "retentionpolicies", "legalholds", "privacytasks"} {
		It("installs "+name+" in the privacy category", func() {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name + ".privacyoperator.io"}, crd)).To(Succeed())
			Expect(crd.Spec.Group).To(Equal("privacyoperator.io"))
			Expect(crd.Spec.Names.Categories).To(ContainElement("privacy"))
			Expect(crd.Spec.Versions).To(HaveLen(1))
			Expect(crd.Spec.Versions[0].Name).To(Equal("v1alpha1"))
			Expect(crd.Spec.Versions[0].Subresources.Status).NotTo(BeNil(), "status must be a subresource")
			Expect(crd.Status.Conditions).To(ContainElement(And(
				HaveField("Type", apiextensionsv1.Established),
				HaveField("Status", apiextensionsv1.ConditionTrue))))
		})
	}

	It("has the documented scope and short names", func() {
		want := map[string]struct {
			scope apiextensionsv1.ResourceScope
			short string
		}{
			"datasources":       {apiextensionsv1.NamespaceScoped, "dsrc"},
			"privacyrequests":   {apiextensionsv1.ClusterScoped, "preq"},
			"retentionpolicies": {apiextensionsv1.ClusterScoped, "rp"},
			"legalholds":        {apiextensionsv1.ClusterScoped, "lh"},
			"privacytasks":      {apiextensionsv1.NamespaceScoped, "ptask"},
		}
		for name, w := range want {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name + ".privacyoperator.io"}, crd)).To(Succeed())
			Expect(crd.Spec.Scope).To(Equal(w.scope), name)
			Expect(crd.Spec.Names.ShortNames).To(Equal([]string{w.short}), name)
		}
	})
})

var _ = Describe("Valid samples", func() {
	for _, file := range sampleFiles(samplesDir) {
		It("accepts "+filepath.Base(file), func() {
			ns := newNamespace()
			for _, obj := range readObjects(file) {
				Expect(createIn(ns, obj)).To(Succeed(), "%s %s", obj.GetKind(), obj.GetName())
			}
		})
	}
})
