package main

import (
	"errors"
	"io"
)

// runLint is replaced by the SecretProviderClass linter (issue 4).
func runLint(args []string, stdout io.Writer) error {
	return errors.New("kvcsi lint: not built yet")
}
