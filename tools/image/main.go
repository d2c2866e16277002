// Command image builds and proves kvcsi's container images without a Docker engine
// (`make image`, `make image-check`). It lives in its own module so that the product's
// go.mod gains no image dependencies.
//
//	image build   OCI layout + docker-archive tarballs + CycloneDX SBOMs for linux/amd64 and linux/arm64
//	image rootfs  the same files as a directory (the Dockerfile's build stage COPYs it)
//	image check   unpack, inspect and run the built image (see internal/check)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/kvcsi/kvcsi/tools/image/internal/check"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

const usage = `usage: image build|rootfs|check [flags]   (image <command> -h for its flags)`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "build":
		return runBuild(args[1:], stdout, stderr)
	case "rootfs":
		return runRootfs(args[1:], stdout, stderr)
	case "check":
		return check.Main(ctx, args[1:], stdout, stderr)
	case check.ChrootExecCommand:
		// Internal: the wrapper the checker hands to the demo as "the binary".
		return check.ChrootExec(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// binaryFlags collects repeated --binary PLATFORM=PATH.
type binaryFlags []string

func (b *binaryFlags) String() string { return strings.Join(*b, ",") }
func (b *binaryFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("want PLATFORM=PATH, got %q", v)
	}
	*b = append(*b, v)
	return nil
}
