package config

import (
	"errors"
	"fmt"
)

// ErrInvalid matches, through errors.Is, every validation error Parse, ParseFilePermission
// and the checks behind Lint return: the request is wrong, not the provider or Azure, so
// callers map it to codes.InvalidArgument.
var ErrInvalid = errors.New("invalid configuration")

// Error is one validation failure of a parameter or object field.
//
// Msg keeps the Azure provider's wording where it has one (users grep for it); Fix is a
// short hint on what to change. Neither ever holds a token or a client secret.
type Error struct {
	// Param is the parameter or object field at fault, e.g. "keyvaultName",
	// "objectAlias" or "jmesPath[1].path"; "" when no single one is.
	Param string
	Msg   string
	Fix   string
	// Err is the underlying cause (a *strconv.NumError, a yaml error...), if any.
	Err error
}

func (e *Error) Error() string {
	if e.Fix == "" {
		return e.Msg
	}
	return e.Msg + ": " + e.Fix
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes every *Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// ObjectError is a validation failure of one entry of the objects array. Its text is the
// Azure provider's "failed to get objectType:<t>, objectName:<n>, objectVersion:<v>: <msg>".
type ObjectError struct {
	Index   int // position in objects.array
	Type    string
	Name    string
	Version string
	Err     error // an *Error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("failed to get objectType:%s, objectName:%s, objectVersion:%s: %s",
		Abbreviate(e.Type), Abbreviate(e.Name), Abbreviate(e.Version), e.Err)
}

// Abbreviate shortens a user-supplied identifier that is far longer than any real one (Key
// Vault names are at most 127 characters), so a hostile manifest cannot make every
// error and log line megabytes long.
func Abbreviate(s string) string {
	const limit = 256
	if len(s) <= limit {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:limit], len(s))
}

func (e *ObjectError) Unwrap() error { return e.Err }

// invalid builds an *Error.
func invalid(param, msg, fix string) *Error {
	return &Error{Param: param, Msg: msg, Fix: fix}
}

// objectErr wraps err with the identity of raw object i.
func objectErr(i int, o *keyVaultObject, err *Error) *ObjectError {
	return &ObjectError{Index: i, Type: o.ObjectType, Name: o.ObjectName, Version: o.ObjectVersion, Err: err}
}

// quoteShort quotes a user-supplied value for a message, cut to a readable length.
func quoteShort(s string) string {
	const limit = 80
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
