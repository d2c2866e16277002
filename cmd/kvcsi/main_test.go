package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}, {"serve", "-h"}, {"-endpoint", "unix:///tmp/x.sock", "--help"}} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), args, &stdout, &stderr); err != nil {
			t.Errorf("%q: %v", args, err)
		}
		out := stdout.String()
		for _, want := range []string{"kvcsi [serve] [flags]", "kvcsi lint [flags] FILE.yaml", "kvcsi version", "Run 'kvcsi lint -h'",
			"  -endpoint ", "  -write-cert-and-key-in-separate-files", "  -v value"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: help lacks %q:\n%s", args, want, out)
			}
		}
	}
}

func TestUnknownSubcommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"mount", "spc.yaml"}, &stdout, &stderr)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), `unknown subcommand "mount"`) || !strings.Contains(err.Error(), "lint and version") {
		t.Fatalf("exit %d: %v", exitCode(err), err)
	}
	if !strings.Contains(stderr.String(), "kvcsi lint [flags]") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

func TestLintHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"lint", "-h"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "usage: kvcsi lint") || !strings.Contains(stdout.String(), "-strict") {
		t.Errorf("lint -h: %s", stdout.String())
	}
}
