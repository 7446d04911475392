#!/usr/bin/env bash
# A real one-node Kubernetes cluster on this machine, for the install suite
# (test/cluster) and for trying the install by hand:
#
#   hack/cluster/cluster.sh up        start it (idempotent); prints the kubeconfig's path
#   hack/cluster/cluster.sh down      stop everything it started, by PID (idempotent)
#   hack/cluster/cluster.sh reset     down, then remove its state: the next up is a fresh cluster
#   hack/cluster/cluster.sh import F  import the docker archive F into the node's image store
#   hack/cluster/cluster.sh volumes   wipe and renew the volumes that claims released
#   hack/cluster/cluster.sh env       print its facts (KUBECONFIG, NODE_IP, ...) as shell assignments
#
# What it is made of, all from this machine's registries: Debian's containerd,
# runc, containernetworking-plugins and iptables (installed when missing, as
# root); etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet and kube-proxy v1.37.2 built from k8s.io/kubernetes on the Go module
# proxy into the cache of hack/envtest-binaries.sh; a pause image and a cluster
# DNS built from hack/cluster. Everything lives under CLUSTER_DIR (default
# /var/tmp/privacy-operator-cluster), outside the repository.
#
# The node: pods on a bridge (10.88.0.0/16) that reach each other, the node
# (NODE_IP, where the API server, the DNS and any test server on the host
# listen) and Services (kube-proxy, iptables), and nothing beyond the node (a
# FORWARD rule rejects it); what listens on NODE_IP answers only the node and
# the pods (an INPUT rule), not the machine's network. Image pulls are refused at once (every registry
# points at a closed local port): images come from `import`. Service names
# resolve (*.svc.cluster.local, answered by hack/cluster/dns); nothing else
# does. Storage: a default StorageClass "local" without a provisioner and
# local PersistentVolumes (ReadWriteOnce) whose directories are root:root
# 0755, as the root of most block storage is. NetworkPolicy is not enforced:
# the bridge plugin has no policy engine.
#
# Facts of this machine it works around: root lacks CAP_SYS_RESOURCE, so
# containerd must not raise oom_score_adj (restrict_oom_score_adj); the host
# has cgroup v1, which kubelet 1.37 runs on only with failCgroupV1: false and
# the cgroupfs driver; kube-proxy exits when its config file is rewritten, so
# the file is written once.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
GO="${GO:-go}"
DIR="${CLUSTER_DIR:-/var/tmp/privacy-operator-cluster}"
# What it builds (the DNS, the pause image) is kept beside the envtest
# binaries, so that a reset does not build it again.
CACHE="${XDG_DATA_HOME:-${HOME}/.local/share}/kubebuilder-envtest/cluster"
NODE_NAME="${CLUSTER_NODE_NAME:-privacy-node}"
POD_CIDR="10.88.0.0/16"
POD_GATEWAY="10.88.0.1"
SERVICE_CIDR="10.96.0.0/16"
KUBERNETES_SERVICE_IP="10.96.0.1"
DOMAIN="cluster.local"
ETCD_PORT="${CLUSTER_ETCD_PORT:-12379}"
API_PORT="${CLUSTER_API_PORT:-6443}"
PAUSE_IMAGE="registry.k8s.io/pause:3.10"
PV_COUNT="${CLUSTER_PVS:-8}"
# Ports of servers a test runs on the node for the pods (hack/postgres.sh and
# hack/versitygw.sh as test/cluster starts them): like the API server's,
# reachable from the node and the pods only.
HOST_PORTS="${CLUSTER_HOST_PORTS:-55433 57071}"
# The local volumes' access modes. On one node every pod shares the node's
# directories, so "ReadWriteOnce,ReadWriteMany" is true here and stands in
# for NFS-like storage (the suite does so for dist/install.yaml); the default
# is what block storage offers.
PV_MODES="${CLUSTER_PV_MODES:-ReadWriteOnce}"
# Every registry points here: a closed port, so a pull fails at once.
CLOSED_REGISTRY="http://127.0.0.1:9"

log() { echo "hack/cluster: $*" >&2; }
die() { log "$*"; exit 1; }

[[ "$(id -u)" == 0 ]] || die "needs root (containerd, kubelet, iptables)"

node_ip() {
	ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1
}

# --- what it needs -----------------------------------------------------------

install_packages() {
	local missing=()
	command -v containerd >/dev/null || missing+=(containerd)
	command -v runc >/dev/null || missing+=(runc)
	[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
	command -v iptables >/dev/null || missing+=(iptables)
	command -v conntrack >/dev/null || missing+=(conntrack)
	command -v openssl >/dev/null || missing+=(openssl)
	command -v ip >/dev/null || missing+=(iproute2)
	command -v curl >/dev/null || missing+=(curl)
	[[ ${#missing[@]} -eq 0 ]] && return 0
	command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
	log "installing ${missing[*]} from Debian's packages"
	apt-get update >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
}

# helm_bin prints the helm CLI of the version go.mod names (the library the
# chart tests render with), built once into the cache beside the envtest
# binaries.
helm_bin() {
	local version dir
	version="$(cd "${REPO}" && "${GO}" list -m -f '{{.Version}}' helm.sh/helm/v3)"
	dir="${XDG_DATA_HOME:-${HOME}/.local/share}/kubebuilder-envtest/helm-${version}"
	if [[ ! -x "${dir}/helm" ]]; then
		log "building helm ${version} into ${dir} (about a minute, once)"
		mkdir -p "${dir}"
		# Outside the repository, so that its go.mod plays no part.
		(cd / && GOFLAGS=-buildvcs=false GOBIN="${dir}" "${GO}" install \
			-ldflags "-X helm.sh/helm/v3/internal/version.version=${version}" "helm.sh/helm/v3/cmd/helm@${version}") >&2
	fi
	echo "${dir}/helm"
}

binaries() {
	BIN="$(ENVTEST_SKIP_DOWNLOAD=1 "${REPO}/hack/envtest-binaries.sh" --node)"
	helm_bin >/dev/null
	mkdir -p "${CACHE}"
	if [[ ! -x "${CACHE}/dns" || -n "$(find "${REPO}/hack/cluster/dns" -newer "${CACHE}/dns" -name '*.go')" ]]; then
		log "building the cluster DNS"
		(cd "${REPO}" && CGO_ENABLED=0 "${GO}" build -o "${CACHE}/dns" ./hack/cluster/dns)
	fi
	local platform
	platform="linux/$("${GO}" env GOARCH)"
	if [[ ! -f "${CACHE}/pause.tar" || -n "$(find "${REPO}/hack/cluster/pause" -newer "${CACHE}/pause.tar" -name '*.go')" ]]; then
		log "building the pause image"
		(cd "${REPO}" && "${GO}" run ./hack/image -binaries ./hack/cluster/pause -entrypoint /pause \
			-title pause -tag "${PAUSE_IMAGE}" -platforms "${platform}" -out "${CACHE}/pause") >/dev/null
		cp "${CACHE}/pause/image-${platform/\//-}.tar" "${CACHE}/pause.tar"
	fi
}

# --- certificates and kubeconfigs --------------------------------------------

# cert NAME CN O KIND [SAN]: a key and a certificate signed by the cluster CA;
# KIND is client or server.
cert() {
	local name="$1" cn="$2" org="$3" kind="$4" san="${5:-}" pki="${DIR}/pki"
	[[ -f "${pki}/${name}.crt" ]] && return 0
	local subj="/CN=${cn}" ext="${pki}/${name}.ext"
	[[ -n "${org}" ]] && subj="/O=${org}${subj}"
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [[ "${kind}" == server ]]; then echo "extendedKeyUsage=serverAuth"; else echo "extendedKeyUsage=clientAuth"; fi
		[[ -n "${san}" ]] && echo "subjectAltName=${san}"
	} >"${ext}"
	openssl req -new -newkey rsa:2048 -nodes -keyout "${pki}/${name}.key" -subj "${subj}" -out "${pki}/${name}.csr" 2>/dev/null
	openssl x509 -req -in "${pki}/${name}.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" -CAcreateserial \
		-days 3650 -extfile "${ext}" -out "${pki}/${name}.crt" 2>/dev/null
	rm -f "${pki}/${name}.csr" "${ext}"
}

pki() {
	local pki="${DIR}/pki"
	mkdir -p "${pki}"
	chmod 700 "${pki}"
	if [[ ! -f "${pki}/ca.crt" ]]; then
		openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "${pki}/ca.key" -subj "/CN=privacy-operator-test-cluster-ca" \
			-days 3650 -out "${pki}/ca.crt" 2>/dev/null
	fi
	if [[ ! -f "${pki}/sa.key" ]]; then
		openssl genrsa -out "${pki}/sa.key" 2048 2>/dev/null
		openssl rsa -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub" 2>/dev/null
	fi
	cert apiserver kube-apiserver "" server \
		"IP:${NODE_IP},IP:127.0.0.1,IP:${KUBERNETES_SERVICE_IP},DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.${DOMAIN},DNS:localhost"
	cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
	cert admin cluster-admin system:masters client
	cert controller-manager system:kube-controller-manager "" client
	cert scheduler system:kube-scheduler "" client
	cert kube-proxy system:kube-proxy "" client
	cert kubelet "system:node:${NODE_NAME}" system:nodes client
	cert kubelet-serving "${NODE_NAME}" "" server "IP:${NODE_IP},DNS:${NODE_NAME}"

	local who
	for who in admin controller-manager scheduler kube-proxy kubelet; do
		local kc="${DIR}/${who}.kubeconfig"
		[[ -f "${kc}" ]] && continue
		"${BIN}/kubectl" config set-cluster cluster --kubeconfig="${kc}" --server="https://${NODE_IP}:${API_PORT}" \
			--certificate-authority="${pki}/ca.crt" --embed-certs >/dev/null
		"${BIN}/kubectl" config set-credentials "${who}" --kubeconfig="${kc}" --client-certificate="${pki}/${who}.crt" \
			--client-key="${pki}/${who}.key" --embed-certs >/dev/null
		"${BIN}/kubectl" config set-context default --kubeconfig="${kc}" --cluster=cluster --user="${who}" >/dev/null
		"${BIN}/kubectl" config use-context default --kubeconfig="${kc}" >/dev/null
	done
}

# --- configuration files (written once: kube-proxy exits when its file is rewritten) ---

write_once() { # write_once FILE: stdin to FILE unless FILE exists
	if [[ -f "$1" ]]; then cat >/dev/null; else mkdir -p "$(dirname "$1")"; cat >"$1"; fi
}

configs() {
	write_once "${DIR}/containerd/config.toml" <<EOF
version = 2
root = "${DIR}/containerd/root"
state = "${DIR}/containerd/state"
[grpc]
  address = "${DIR}/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails
  # ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  # The pods' network namespaces under the state directory, not
  # /var/run/netns: down unmounts what is its own.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${DIR}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${DIR}/containerd/certs.d"
EOF
	local registry
	for registry in _default docker.io registry.k8s.io ghcr.io quay.io gcr.io; do
		# containerd 1.6 refuses a hosts.toml without a [host."..."] table.
		write_once "${DIR}/containerd/certs.d/${registry}/hosts.toml" <<EOF
server = "${CLOSED_REGISTRY}"
[host."${CLOSED_REGISTRY}"]
  capabilities = ["pull", "resolve"]
EOF
	done
	write_once "${DIR}/cni/net.d/10-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "privacy-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "${DIR}/cni/ipam",
        "ranges": [[{"subnet": "${POD_CIDR}", "gateway": "${POD_GATEWAY}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
	write_once "${DIR}/kubelet/resolv.conf" <<EOF
nameserver ${NODE_IP}
EOF
	write_once "${DIR}/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_IP}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${DIR}/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: ${DIR}/pki/kubelet-serving.crt
tlsPrivateKeyFile: ${DIR}/pki/kubelet-serving.key
containerRuntimeEndpoint: unix://${DIR}/containerd/containerd.sock
# cgroup v1 here; containerd 1.6 lacks the CRI RuntimeConfig call, so the
# driver is named (kubelet says the fallback goes in 1.38).
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [${NODE_IP}]
clusterDomain: ${DOMAIN}
resolvConf: ${DIR}/kubelet/resolv.conf
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
serializeImagePulls: false
EOF
	write_once "${DIR}/kube-proxy/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: ${POD_CIDR}
hostnameOverride: ${NODE_NAME}
clientConnection: {kubeconfig: ${DIR}/kube-proxy.kubeconfig}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# The sysctls kube-proxy would raise are not writable here.
conntrack: {maxPerCore: 0}
# NodePorts on the node's address only, and never on 127.0.0.1 (which
# would set route_localnet on the host).
nodePortAddresses: ["${NODE_IP}/32"]
iptables: {localhostNodePorts: false}
EOF
}

# --- processes ---------------------------------------------------------------

# pid_of NAME prints the PID its file names when that process is alive and
# is still the one started (its command line holds the file's marker): after
# a reboot a PID file may name an unrelated process, which is never touched.
pid_of() {
	local pid marker
	pid="$(cat "${DIR}/run/$1.pid" 2>/dev/null)" || return 1
	# Files written before the marker existed: the component's name.
	marker="$(cat "${DIR}/run/$1.cmd" 2>/dev/null)" || marker="$1"
	[[ -n "${pid}" && -n "${marker}" ]] && kill -0 "${pid}" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF -- "${marker}" || return 1
	echo "${pid}"
}

running() { # running NAME: it was started here and is alive
	pid_of "$1" >/dev/null
}

start() { # start NAME CMD...: in the background, logs in DIR/logs/NAME.log
	local name="$1"
	shift
	running "${name}" && return 0
	mkdir -p "${DIR}/run" "${DIR}/logs"
	setsid "$@" >>"${DIR}/logs/${name}.log" 2>&1 </dev/null &
	echo $! >"${DIR}/run/${name}.pid"
	echo "$1" >"${DIR}/run/${name}.cmd"
}

wait_for() { # wait_for WHAT SECONDS CMD...: CMD must give up on its own within seconds
	local what="$1" deadline=$((SECONDS + $2))
	shift 2
	while ((SECONDS < deadline)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	log "${what} did not come up in ${secs}s; last lines of its log:"
	tail -n 20 "${DIR}/logs/${what}.log" >&2 || true
	return 1
}

kubectl_admin() { "${BIN}/kubectl" --kubeconfig="${DIR}/admin.kubeconfig" --request-timeout=10s "$@"; }

# answers HOST PORT: something accepts TCP connections there.
answers() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

network() {
	sysctl -qw net.ipv4.ip_forward=1
	if [[ -w /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
		sysctl -qw net.bridge.bridge-nf-call-iptables=1
	else
		modprobe br_netfilter 2>/dev/null || die "bridged pod traffic must pass iptables (br_netfilter) for Services to work"
	fi
	# Pods reach each other (and, through DNAT, Services); anything else a pod
	# sends on is rejected at once. The node itself is INPUT, not FORWARD.
	iptables -N PRIVACY-CLUSTER-FORWARD 2>/dev/null || true
	iptables -F PRIVACY-CLUSTER-FORWARD
	iptables -A PRIVACY-CLUSTER-FORWARD -s "${POD_CIDR}" -d "${POD_CIDR}" -j ACCEPT
	iptables -A PRIVACY-CLUSTER-FORWARD -s "${POD_CIDR}" -j REJECT
	iptables -C FORWARD -j PRIVACY-CLUSTER-FORWARD 2>/dev/null || iptables -I FORWARD 1 -j PRIVACY-CLUSTER-FORWARD
	# What listens on the node's address (the API server, the kubelet, the
	# DNS, and the ports of servers a test runs there for the pods) answers
	# the node and the pods only, not the machine's network.
	iptables -N PRIVACY-CLUSTER-INPUT 2>/dev/null || true
	iptables -F PRIVACY-CLUSTER-INPUT
	local from port
	for from in 127.0.0.0/8 "${NODE_IP}/32" "${POD_CIDR}"; do
		iptables -A PRIVACY-CLUSTER-INPUT -s "${from}" -j RETURN
	done
	for port in "${API_PORT}" 10250 53 ${HOST_PORTS}; do
		iptables -A PRIVACY-CLUSTER-INPUT -p tcp --dport "${port}" -j REJECT
	done
	iptables -A PRIVACY-CLUSTER-INPUT -p udp --dport 53 -j REJECT
	iptables -C INPUT -j PRIVACY-CLUSTER-INPUT 2>/dev/null || iptables -I INPUT 1 -j PRIVACY-CLUSTER-INPUT
}

# storage makes the default StorageClass and the local volumes; a volume
# released by its claim is wiped and made anew (Retain keeps it from being
# bound again), so that every install starts on empty, root-owned volumes.
storage() {
	local i pv
	for pv in $(kubectl_admin get pv -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}' 2>/dev/null); do
		kubectl_admin delete pv "${pv}" --wait=true >/dev/null
		rm -rf "${DIR}/volumes/${pv#local-}"
	done
	for ((i = 1; i <= PV_COUNT; i++)); do
		pv="${DIR}/volumes/pv-${i}"
		# root:root 0755, as the root of most block storage: only fsGroup
		# makes it writable to a non-root pod.
		if [[ ! -d "${pv}" ]]; then
			mkdir -p "${pv}"
			chown root:root "${pv}"
			chmod 0755 "${pv}"
		fi
	done
	{
		cat <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
		for ((i = 1; i <= PV_COUNT; i++)); do
			cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-pv-${i}
spec:
  capacity: {storage: 20Gi}
  accessModes: [${PV_MODES}]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  local: {path: ${DIR}/volumes/pv-${i}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [${NODE_NAME}]}
EOF
		done
	} | kubectl_admin apply --server-side --field-manager=hack-cluster -f - >/dev/null
}

up() {
	install_packages
	NODE_IP="$(node_ip || true)"
	[[ -n "${NODE_IP}" ]] || die "no IPv4 address with a route; the node needs one"
	binaries
	mkdir -p "${DIR}"
	if [[ -f "${DIR}/node-ip" && "$(cat "${DIR}/node-ip")" != "${NODE_IP}" ]]; then
		die "this machine's address changed ($(cat "${DIR}/node-ip") -> ${NODE_IP}): run '$0 reset' first"
	fi
	echo "${NODE_IP}" >"${DIR}/node-ip"
	pki
	configs
	network

	start containerd containerd --config "${DIR}/containerd/config.toml"
	start etcd "${BIN}/etcd" --data-dir "${DIR}/etcd" --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" \
		--advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
		--initial-cluster "default=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync
	local pki="${DIR}/pki"
	start kube-apiserver "${BIN}/kube-apiserver" --etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
		--bind-address "${NODE_IP}" --advertise-address "${NODE_IP}" --secure-port "${API_PORT}" \
		--service-cluster-ip-range "${SERVICE_CIDR}" --allow-privileged=true \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--client-ca-file "${pki}/ca.crt" --tls-cert-file "${pki}/apiserver.crt" --tls-private-key-file "${pki}/apiserver.key" \
		--kubelet-client-certificate "${pki}/apiserver-kubelet-client.crt" --kubelet-client-key "${pki}/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "${pki}/ca.crt" --kubelet-preferred-address-types InternalIP \
		--service-account-issuer "https://kubernetes.default.svc.${DOMAIN}" \
		--service-account-key-file "${pki}/sa.pub" --service-account-signing-key-file "${pki}/sa.key"
	wait_for kube-apiserver 60 kubectl_admin get --raw /readyz
	start kube-controller-manager "${BIN}/kube-controller-manager" --kubeconfig "${DIR}/controller-manager.kubeconfig" \
		--authentication-kubeconfig "${DIR}/controller-manager.kubeconfig" --authorization-kubeconfig "${DIR}/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
		--service-account-private-key-file "${pki}/sa.key" --root-ca-file "${pki}/ca.crt" \
		--cluster-signing-cert-file "${pki}/ca.crt" --cluster-signing-key-file "${pki}/ca.key" \
		--service-cluster-ip-range "${SERVICE_CIDR}" --controllers '*,-bootstrapsigner,-tokencleaner'
	start kube-scheduler "${BIN}/kube-scheduler" --kubeconfig "${DIR}/scheduler.kubeconfig" \
		--authentication-kubeconfig "${DIR}/scheduler.kubeconfig" --authorization-kubeconfig "${DIR}/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false
	wait_for containerd 30 ctr --address "${DIR}/containerd/containerd.sock" version
	import "${CACHE}/pause.tar"
	start kubelet "${BIN}/kubelet" --config "${DIR}/kubelet/config.yaml" --kubeconfig "${DIR}/kubelet.kubeconfig" \
		--root-dir "${DIR}/kubelet/root" --hostname-override "${NODE_NAME}" --node-ip "${NODE_IP}"
	start kube-proxy "${BIN}/kube-proxy" --config "${DIR}/kube-proxy/config.yaml"
	start dns "${CACHE}/dns" --kubeconfig "${DIR}/admin.kubeconfig" --listen "${NODE_IP}:53" --domain "${DOMAIN}"
	wait_for kubelet 90 kubectl_admin wait --for=condition=Ready "node/${NODE_NAME}" --timeout=1s
	wait_for kube-scheduler 60 curl -ksf --max-time 2 https://127.0.0.1:10259/healthz
	wait_for kube-proxy 60 curl -sf --max-time 2 http://127.0.0.1:10256/healthz
	wait_for dns 60 answers "${NODE_IP}" 53
	storage
	# Pods are admitted only once the namespace's default ServiceAccount exists.
	wait_for kube-controller-manager 60 kubectl_admin get serviceaccount default -n default
	log "up: node ${NODE_NAME} at ${NODE_IP}; KUBECONFIG=${DIR}/admin.kubeconfig"
	echo "${DIR}/admin.kubeconfig"
}

import() { # import ARCHIVE: into the k8s.io namespace containerd's CRI uses
	[[ -f "$1" ]] || die "import: no such file: $1"
	ctr --address "${DIR}/containerd/containerd.sock" -n k8s.io images import --no-unpack=false "$1" >/dev/null
}

stop_pid() { # stop_pid NAME: SIGTERM, then SIGKILL after 10 s; only the process started here
	local pid i
	if pid="$(pid_of "$1")"; then
		kill "${pid}" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.2; done
		kill -9 "${pid}" 2>/dev/null || true
	fi
	rm -f "${DIR}/run/$1.pid" "${DIR}/run/$1.cmd"
}

down() {
	[[ -d "${DIR}" ]] || return 0
	local name
	for name in dns kube-proxy kubelet kube-scheduler kube-controller-manager; do stop_pid "${name}"; done
	# The pods' containers outlive the kubelet: stop them through containerd.
	if running containerd; then
		local sock="${DIR}/containerd/containerd.sock" task
		for task in $(ctr --address "${sock}" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr --address "${sock}" -n k8s.io tasks kill -s SIGKILL "${task}" >/dev/null 2>&1 || true
		done
		local i
		for ((i = 0; i < 50; i++)); do
			[[ -z "$(ctr --address "${sock}" -n k8s.io tasks ls -q 2>/dev/null | head -1)" ]] && break
			sleep 0.2
		done
		for task in $(ctr --address "${sock}" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr --address "${sock}" -n k8s.io tasks rm -f "${task}" >/dev/null 2>&1 || true
		done
	fi
	for name in kube-apiserver etcd containerd; do stop_pid "${name}"; done
	# Shims left by containerd; kubelet's mounts and the pods' network
	# namespaces (netns_mounts_under_state_dir): unmounted, a namespace goes
	# with its last process, and its veth with it.
	pkill -9 -f "containerd-shim-runc-v2 -namespace k8s.io .*-address ${DIR}/containerd/containerd.sock" 2>/dev/null || true
	local m
	for m in $(awk -v dir="${DIR}/" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r); do
		umount -l "${m}" 2>/dev/null || true
	done
	iptables -D INPUT -j PRIVACY-CLUSTER-INPUT 2>/dev/null || true
	iptables -F PRIVACY-CLUSTER-INPUT 2>/dev/null || true
	iptables -X PRIVACY-CLUSTER-INPUT 2>/dev/null || true
	iptables -D FORWARD -j PRIVACY-CLUSTER-FORWARD 2>/dev/null || true
	iptables -F PRIVACY-CLUSTER-FORWARD 2>/dev/null || true
	iptables -X PRIVACY-CLUSTER-FORWARD 2>/dev/null || true
	log "down"
}

reset() {
	down
	# kube-proxy's rules go with its state (this builds the binaries when
	# they are missing, as up would, saying so).
	local bin
	bin="$(ENVTEST_SKIP_DOWNLOAD=1 "${REPO}/hack/envtest-binaries.sh" --node)" &&
		"${bin}/kube-proxy" --cleanup >/dev/null 2>&1 || true
	ip link delete cni0 2>/dev/null || true
	rm -rf "${DIR}"
	log "reset: ${DIR} removed"
}

env_() {
	[[ -f "${DIR}/node-ip" ]] || die "not up"
	echo "KUBECONFIG=${DIR}/admin.kubeconfig"
	echo "NODE_IP=$(cat "${DIR}/node-ip")"
	echo "NODE_NAME=${NODE_NAME}"
	echo "CLUSTER_DIR=${DIR}"
	echo "CONTAINERD_ADDRESS=${DIR}/containerd/containerd.sock"
	echo "KUBECTL=$(ENVTEST_SKIP_DOWNLOAD=1 "${REPO}/hack/envtest-binaries.sh" --node)/kubectl"
	echo "HELM=$(helm_bin)"
}

case "${1:-}" in
up) up ;;
down) down ;;
reset) reset ;;
volumes)
	BIN="$(ENVTEST_SKIP_DOWNLOAD=1 "${REPO}/hack/envtest-binaries.sh" --node)"
	storage
	;;
import) [[ $# -eq 2 ]] || die "usage: $0 import ARCHIVE"; import "$2" ;;
env) env_ ;;
*) die "usage: $0 up|down|reset|volumes|import ARCHIVE|env" ;;
esac
