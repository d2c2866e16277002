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
	"strings"
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

const usage = `usage:
  kvcsi [serve] [flags]          run the provider (the default; the Azure provider's flags)
  kvcsi lint [flags] FILE.yaml…  check SecretProviderClass manifests offline
  kvcsi version                  print the version as JSON

Run 'kvcsi lint -h' for lint's flags. The provider's flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "lint":
			return runLint(args[1:], stdout)
		case "version":
			return runVersion(stdout)
		case "serve":
			args = args[1:]
		case "help":
			return printUsage(stdout)
		default:
			if !strings.HasPrefix(args[0], "-") {
				_ = printUsage(stderr)
				return &exitStatus{code: 2, err: fmt.Errorf("unknown subcommand %q: the subcommands are serve (the default), lint and version", args[0])}
			}
		}
	}
	if wantsHelp(args) {
		return printUsage(stdout)
	}
	return runServe(ctx, args, stdout, stderr)
}

// wantsHelp reports whether the provider's flags ask for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "--h":
			return true
		}
	}
	return false
}

// printUsage names the subcommands and lists the provider's flags.
func printUsage(w io.Writer) error {
	if _, err := fmt.Fprint(w, usage); err != nil {
		return err
	}
	newFlagSet(&options{}, w).PrintDefaults()
	return nil
}
