# Privacy Operator. `make help` lists the targets.

IMG ?= privacy-operator:latest
# The version every binary prints for --version (and the image's labels):
# the latest tag, the commits since and the commit, -dirty with uncommitted
# changes. `make release` wants a release's own, VERSION=vX.Y.Z.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short=7 HEAD 2>/dev/null)
VERSION_PKG = github.com/privacyoperator/privacy-operator/internal/version
VERSION_LDFLAGS = -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT)
# Kubernetes version of the envtest binaries (etcd, kube-apiserver, kubectl).
ENVTEST_K8S_VERSION ?= 1.37.2
CONTROLLER_TOOLS_VERSION ?= v0.23.0
STATICCHECK_VERSION ?= v0.6.1

GO ?= go
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
STATICCHECK ?= $(LOCALBIN)/staticcheck-$(STATICCHECK_VERSION)
KUBECTL ?= kubectl

# Setting SHELL to bash allows bash commands to be executed by recipes.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

CHART ?= charts/privacy-operator

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC into config/, copy them (and the alerts) into the Helm chart's files/, write docs/conditions.md and the Argo CD health checks' config/argocd/*.yaml.
	@# Into a temporary directory, then only what changed is written
	@# (hack/sync.sh): tests that read these files may run meanwhile.
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." paths="./cmd/..." \
		output:crd:artifacts:config=$$tmp/crd output:rbac:artifacts:config=$$tmp/rbac && \
	hack/sync.sh $$tmp/crd config/crd/bases && \
	hack/sync.sh $$tmp/rbac/role.yaml config/rbac/role.yaml
	hack/sync.sh config/crd/bases $(CHART)/files/crds
	hack/sync.sh config/rbac/role.yaml $(CHART)/files/manager-role.yaml
	hack/sync.sh config/prometheus/rules.yaml $(CHART)/files/prometheus-rules.yaml
	$(GO) run ./hack/conditionsdoc
	$(GO) run ./hack/argocdhealth

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..." output:object:dir=$$tmp && \
	hack/sync.sh $$tmp/zz_generated.deepcopy.go api/v1alpha1/zz_generated.deepcopy.go

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: test
test: manifests generate fmt vet envtest image example-image s3-server ## Run unit and envtest suites, then the install suite on a real one-node cluster (cluster-test).
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-binaries.sh)" \
		$(GO) test ./... -count=1 -timeout 20m $(TEST_FLAGS)
	@if [ "$(CLUSTER_TEST)" = 0 ]; then echo "make test: the install suite on a real cluster (test/cluster) was LEFT OUT (CLUSTER_TEST=0)"; \
	else $(MAKE) --no-print-directory cluster-test-run; fi

# CLUSTER_TEST=0 leaves the real-cluster install suite out of make test (it
# needs root); CI runs it.
CLUSTER_TEST ?= 1

.PHONY: cluster-test
cluster-test: image example-image ## Run the install suite alone (part of make test; needs root): a one-node cluster (hack/cluster), the chart, the examples, every request type, the leader lost, upgrade, uninstall, dist/install.yaml.
	$(MAKE) --no-print-directory cluster-test-run

.PHONY: cluster-test-run
cluster-test-run:
	PRIVACY_TEST_CLUSTER=1 $(GO) test ./test/cluster/ -count=1 -v -timeout 30m $(TEST_FLAGS)

.PHONY: cluster-up
cluster-up: ## Start the one-node cluster of hack/cluster (needs root); prints its kubeconfig. `hack/cluster/cluster.sh import bin/image/image-linux-amd64.tar` loads the image.
	hack/cluster/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the one-node cluster (its state stays: cluster-up resumes it; hack/cluster/cluster.sh reset removes it).
	hack/cluster/cluster.sh down

.PHONY: s3-server
s3-server: ## Build (once, cached beside the envtest binaries) and start the S3 server the export tests use (hack/versitygw.sh).
	hack/versitygw.sh start >/dev/null

.PHONY: chart-test
chart-test: envtest ## Test the install alone (part of make test): the image, the Helm chart against config/default, dist/install.yaml.
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-binaries.sh)" \
		$(GO) test ./test/install/ -count=1 -v $(TEST_FLAGS)

BENCH_REQUESTS ?= 1000
BENCH_SOURCES ?= 10

BENCH_RATE ?= 20
BENCH_RATE_FOR ?= 30s
BENCH_RESTORE_RECORDS ?= 10000

.PHONY: bench
bench: envtest ## Run the Go benchmarks, then the engine end to end: the ceiling, a burst of BENCH_REQUESTS x BENCH_SOURCES, an open loop of BENCH_RATE/s for BENCH_RATE_FOR, Restores of BENCH_RESTORE_RECORDS replay records.
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-binaries.sh)" \
		$(GO) test ./... -run '^$$' -bench . -benchmem $(BENCH_FLAGS)
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-binaries.sh)" \
		$(GO) run ./test/bench -requests $(BENCH_REQUESTS) -sources $(BENCH_SOURCES) -rate $(BENCH_RATE) -rate-for $(BENCH_RATE_FOR) -restore-records $(BENCH_RESTORE_RECORDS) $(BENCH_RUN_FLAGS)

.PHONY: bench-scale
bench-scale: envtest ## Run the engine at the scale points (M in 100, 1k, 10k at N=10; N in 1, 10, 100 at M=1k) and print one table.
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-binaries.sh)" \
		$(GO) run ./test/bench -scale $(BENCH_RUN_FLAGS)

.PHONY: lint
lint: staticcheck ## Run staticcheck.
	$(STATICCHECK) ./...

.PHONY: verify
verify: manifests generate lint ## Fail if generated files are stale, code is not gofmt-clean, or staticcheck complains.
	@hack/verify.sh

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager, the SQL data source, the privacy center, localstack, privacyctl and the kubectl-privacy plugin into bin/.
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(LOCALBIN)/manager ./cmd/manager
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(LOCALBIN)/privacyctl ./cmd/privacyctl
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(LOCALBIN)/kubectl-privacy ./cmd/kubectl-privacy
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(LOCALBIN)/sql-datasource ./cmd/sql-datasource
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(LOCALBIN)/privacy-center ./cmd/privacy-center
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(LOCALBIN)/localstack ./cmd/localstack

# Platforms of `make image`.
PLATFORMS ?= linux/amd64,linux/arm64

.PHONY: image
image: ## Build the image IMG (/manager, /sql-datasource, /privacy-center) for PLATFORMS into bin/image, without a container engine.
	$(GO) run ./hack/image -tag $(IMG) -platforms $(PLATFORMS) -out $(LOCALBIN)/image -version $(VERSION) -commit $(COMMIT)

.PHONY: example-image
example-image: ## Build the image of examples/sdk-datasource (sdk-datasource:latest, linux/amd64) into bin/example-image, without a container engine.
	$(GO) run ./hack/image -binaries ./examples/sdk-datasource -entrypoint /sdk-datasource -title sdk-datasource \
		-tag sdk-datasource:latest -platforms linux/amd64 -out $(LOCALBIN)/example-image

.PHONY: installer
installer: manifests ## Write dist/install.yaml (config/default with the image IMG) for kubectl apply -f.
	$(GO) run ./hack/installer -image $(IMG) -out dist/install.yaml

# The defaults of `make run`, for a laptop: exports under tmp/ (the default
# /var/lib/... needs root), probes and callbacks on loopback (the callback
# URL is derived from the listener's address), plain-HTTP callbacks on
# loopback only, and data sources on loopback allowed. RUN_FLAGS adds flags
# after these (a repeated flag wins), e.g. RUN_FLAGS=--zap-log-level=debug.
RUN_DEFAULTS = --export-dir=$(CURDIR)/tmp/exports --health-probe-bind-address=127.0.0.1:8081 \
	--callback-bind-address=127.0.0.1:9443 --callback-insecure --allow-loopback-endpoints
RUN_FLAGS ?=

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster of the current kubeconfig (RUN_FLAGS adds flags).
	$(GO) run ./cmd/manager $(RUN_DEFAULTS) $(RUN_FLAGS)

##@ Release

# Where `make release` writes, and the image's repository there (its tag is
# VERSION): the chart and install.yaml of the release run RELEASE_IMAGE:VERSION.
RELEASE_DIR ?= $(CURDIR)/_output/release
RELEASE_IMAGE ?= privacy-operator

.PHONY: release
release: ## Write release VERSION=vX.Y.Z into RELEASE_DIR: the image (OCI layout), the packaged chart, install.yaml, the kubectl-privacy archives and their krew manifest, SHA256SUMS (see README "Releases").
	$(GO) run ./hack/release -version $(VERSION) -commit $(COMMIT) -image $(RELEASE_IMAGE) -platforms $(PLATFORMS) \
		-out $(RELEASE_DIR) -cache $(CURDIR)/_output/build

##@ Local stack (no cluster, no container engine)

DEMO_DIR ?= $(CURDIR)/tmp/demo
LOCAL_DIR ?= $(CURDIR)/tmp/local

.PHONY: demo
demo: build envtest ## See it work: control plane, operator, two SQL data sources, the privacy center, a policy and a request of each type (DEMO_ONCE=1 exits after the summary).
	mailpit="$$(hack/mailpit.sh build)" && \
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-binaries.sh)" \
		$(LOCALBIN)/localstack demo --dir $(DEMO_DIR) --bin $(LOCALBIN) --repo $(CURDIR) --mailpit "$$mailpit"

.PHONY: local-up
local-up: build envtest ## Start a local control plane (CRDs installed) that `make run` can use; prints its KUBECONFIG.
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-binaries.sh)" \
		$(LOCALBIN)/localstack up --dir $(LOCAL_DIR) --repo $(CURDIR)

.PHONY: local-down
local-down: ## Stop the local control plane and remove its state.
	$(GO) run ./cmd/localstack down --dir $(LOCAL_DIR)

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and with them every DataSource, PrivacyRequest and RetentionPolicy).
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator (image IMG) into the cluster of the current kubeconfig.
	$(KUBECTL) kustomize config/default | sed 's|image: controller:latest|image: $(IMG)|' | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the operator from the cluster of the current kubeconfig.
	$(KUBECTL) delete --ignore-not-found -k config/default

##@ Dependencies

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

.PHONY: staticcheck
staticcheck: $(STATICCHECK) ## Install staticcheck into bin/.
$(STATICCHECK): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(LOCALBIN)/staticcheck $(STATICCHECK)

.PHONY: envtest
envtest: ## Prepare etcd, kube-apiserver and kubectl for envtest (cached; the first build takes about eight minutes).
	@ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest-binaries.sh >/dev/null
