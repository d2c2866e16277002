package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/provider/version"
)

func runVersion(stdout io.Writer) error {
	_, err := fmt.Fprintln(stdout, version.JSON())
	return err
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.printVersion {
		return runVersion(stdout)
	}
	if o.logFormatJSON {
		setJSONLogger(stdout, stderr)
	}
	defer klog.Flush()
	o.daemon.CloudEnvironmentFile = os.Getenv("AZURE_ENVIRONMENT_FILEPATH")
	return daemon.Run(ctx, o.daemon)
}

func setJSONLogger(stdout, stderr io.Writer) {
	h := slog.NewJSONHandler(levelSplit{info: stdout, err: stderr}, &slog.HandlerOptions{Level: slog.Level(-127)})
	klog.SetLogger(logr.FromSlogHandler(h))
}

// levelSplit sends error records to stderr and the rest to stdout, like the Azure
// provider's JSON logger. slog writes one record per Write call.
type levelSplit struct{ info, err io.Writer }

func (l levelSplit) Write(p []byte) (int, error) {
	if strings.Contains(string(p), `"level":"ERROR"`) {
		return l.err.Write(p)
	}
	return l.info.Write(p)
}
