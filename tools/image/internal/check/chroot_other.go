//go:build !linux

package check

import (
	"errors"
	"os/exec"
)

var errNoChroot = errors.New("the image checks run the Linux image and need Linux")

// chrootCmd cannot chroot here; the command fails to start instead.
func chrootCmd(cmd *exec.Cmd, _ string) {
	cmd.Path = ""
	cmd.Err = errNoChroot
}

func chrootExec(string, []string, []string) error { return errNoChroot }
