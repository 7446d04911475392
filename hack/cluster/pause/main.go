// Command pause is the sandbox image of hack/cluster's one-node cluster
// (containerd's sandbox_image): it holds a pod's namespaces open until it
// is told to stop, and reaps the children a shared PID namespace hands it.
// No registry is reachable here, so the cluster builds it from this source
// (hack/image) instead of pulling registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
