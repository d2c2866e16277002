// Command kvcsi is the Azure Key Vault provider for the Secrets Store CSI Driver. It
// accepts every flag of the existing Azure provider, so swapping the image is the whole
// migration. main only wires: run does the work and returns errors.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kvcsi:", err)
		os.Exit(exitCode(err))
	}
}

// exitStatus lets a subcommand choose its exit status (kvcsi lint exits 1 on findings).
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string { return e.err.Error() }

func exitCode(err error) int {
	if es, ok := err.(*exitStatus); ok {
		return es.code
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "lint":
			return runLint(args[1:], stdout)
		case "version":
			return runVersion(stdout)
		}
	}
	return runServe(ctx, args, stdout, stderr)
}
