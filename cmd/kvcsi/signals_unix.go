//go:build !windows

package main

import (
	"os"
	"syscall"
)

// stopSignals end the daemon gracefully: SIGTERM from the kubelet, SIGINT from a terminal.
var stopSignals = []os.Signal{syscall.SIGTERM, os.Interrupt}
