// Package mlog is a minimal stand-in for monis.app/mlog, written for the kvcsi
// e2e suite. The Secrets Store CSI Driver imports the real module, which the
// Go module proxy available here refuses to serve; the driver only needs the
// handful of symbols below. Logs are plain klog output.
package mlog

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"

	"k8s.io/klog/v2"
)

// LogFormat selects the log output format. Only text is actually produced.
type LogFormat string

// Log formats accepted by ValidateAndSetKlogLevelAndFormatGlobally.
const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// Setup prepares logging and returns a function that flushes it.
func Setup() func() {
	return klog.Flush
}

// ValidateAndSetKlogLevelAndFormatGlobally checks the verbosity level and
// applies it to klog. The format is accepted but ignored (always text).
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, level klog.Level, format LogFormat) error {
	if level < 0 {
		return fmt.Errorf("invalid log level %d", level)
	}
	switch format {
	case FormatText, FormatJSON, "":
	default:
		return fmt.Errorf("invalid log format %q", format)
	}
	fs := flag.NewFlagSet("mlog", flag.ContinueOnError)
	klog.InitFlags(fs)
	return fs.Set("v", strconv.Itoa(int(level)))
}

// Error logs an error message with optional key/value pairs.
func Error(msg string, keysAndValues ...any) {
	var err error
	kv := keysAndValues
	if len(kv) > 0 {
		if e, ok := kv[0].(error); ok {
			err = e
			kv = kv[1:]
		}
	}
	klog.ErrorSDepth(1, err, msg, kv...)
}

// Fatal logs the error and exits the process.
func Fatal(err error, keysAndValues ...any) {
	klog.ErrorSDepth(1, err, "fatal error", keysAndValues...)
	klog.Flush()
	os.Exit(1)
}
