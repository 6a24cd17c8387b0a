// pause: the pod sandbox's process for the real node's stand-in registry.k8s.io/pause image.
//
// What it imitates: Kubernetes' own pause container (kubernetes/kubernetes build/pause/linux/pause.c): it holds
// the pod's namespaces, sleeps until SIGINT or SIGTERM, then exits 0, and as PID 1 reaps orphaned zombies
// (SIGCHLD). Written in Go so hack/build-node builds it like the rest of the node.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
