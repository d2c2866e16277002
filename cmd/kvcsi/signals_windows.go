//go:build windows

package main

import "os"

// stopSignals end the daemon gracefully. Windows containers deliver CTRL_SHUTDOWN_EVENT
// and CTRL_CLOSE_EVENT, which the Go runtime maps to os.Interrupt.
var stopSignals = []os.Signal{os.Interrupt}
