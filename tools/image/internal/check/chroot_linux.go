package check

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// chrootCmd makes cmd start inside root.
func chrootCmd(cmd *exec.Cmd, root string) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
}

// chrootExec changes this process's root to root and replaces it with argv[0].
func chrootExec(root string, argv, env []string) error {
	if err := syscall.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	return syscall.Exec(argv[0], argv, env)
}
