// Package receipttest starts what the receipt keys' tests need: a
// kube-apiserver (envtest, with no CRDs: the keys are core objects).
package receipttest

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
)

// APIServer starts a kube-apiserver that stops when the test ends, and
// returns an uncached admin client of it (core types only) and the
// environment (to add users with kubeconfigs).
func APIServer(t testing.TB) (client.Client, *envtest.Environment) {
	t.Helper()
	assets, err := localstack.Assets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, env
}
