// Package install_test checks what an installation consumes, as a platform
// team consumes it: the image `make image` builds (opened with
// go-containerregistry, its binaries run from its root filesystem), the
// Helm chart (rendered with the Helm library, compared with config/ built
// by the kustomize library, applied with a server-side dry run) and
// dist/install.yaml. Every Deployment's pod template is created as a Pod,
// dry run, in a namespace that enforces the restricted Pod Security profile.
package install_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

var (
	repo     = testenv.RepoRoot()
	chartDir = filepath.Join(repo, "charts", "privacy-operator")
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the control plane:", err)
		}
	}
	os.Exit(code)
}

// The control plane is started by the first test that needs it and shared.
var (
	envOnce sync.Once
	env     *testenv.Env
	envErr  error
	k8s     client.Client
)

// cluster returns a client of the shared control plane (a real
// kube-apiserver, PodSecurity admission on), with the CRDs of the optional
// kinds the chart can render (see testdata/third-party-crds.yaml).
func cluster(t *testing.T) client.Client {
	t.Helper()
	envOnce.Do(func() {
		if env, envErr = testenv.Start(); envErr != nil {
			return
		}
		scheme := runtime.NewScheme()
		if envErr = clientgoscheme.AddToScheme(scheme); envErr != nil {
			return
		}
		if k8s, envErr = client.New(env.Config, client.Options{Scheme: scheme}); envErr != nil {
			return
		}
		var data []byte
		if data, envErr = os.ReadFile(filepath.Join("testdata", "third-party-crds.yaml")); envErr != nil {
			return
		}
		objs, err := decode(data)
		if err != nil {
			envErr = err
			return
		}
		envErr = applyCRDs(context.Background(), objs)
	})
	if envErr != nil {
		t.Fatalf("control plane: %v", envErr)
	}
	return k8s
}

// decode splits a YAML stream into objects, skipping empty documents.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// mustDecode is decode for data the test made.
func mustDecode(t *testing.T, data []byte, err error) []*unstructured.Unstructured {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// renderChart renders the chart as the default release with valueFiles
// (relative to the chart) and values.
func renderChart(t *testing.T, values map[string]any, valueFiles ...string) []*unstructured.Unstructured {
	t.Helper()
	for i, f := range valueFiles {
		valueFiles[i] = filepath.Join(chartDir, f)
	}
	out, err := packaging.RenderChart(chartDir, packaging.DefaultRelease, valueFiles, values)
	return mustDecode(t, out, err)
}

// kustomize builds a folder of config/.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := packaging.Kustomize(filepath.Join(repo, "config", dir))
	return mustDecode(t, out, err)
}

// ofKind returns the objects of one kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}
