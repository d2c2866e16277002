package config

import (
	"errors"
	"fmt"

	"github.com/kvcsi/kvcsi/provider/vocab"
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

// FixSeparator joins a message and its fix hint: "<what went wrong>; fix: <what to
// change>", the one format of every error and lint finding kvcsi shows.
const FixSeparator = "; fix: "

func (e *Error) Error() string {
	if e.Fix == "" {
		return e.Msg
	}
	return e.Msg + FixSeparator + e.Fix
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes every *Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// invalid builds an *Error.
func invalid(param, msg, fix string) *Error {
	return &Error{Param: param, Msg: msg, Fix: fix}
}

// objectErr wraps err with the identity of raw object i.
func objectErr(i int, o *keyVaultObject, err *Error) *vocab.ObjectError {
	return &vocab.ObjectError{Index: i, Type: vocab.ObjectType(o.ObjectType), Name: o.ObjectName, Version: o.ObjectVersion, Err: err}
}

// objectErrFor wraps err with the identity of a validated object.
func objectErrFor(o *Object, err *Error) *vocab.ObjectError {
	return &vocab.ObjectError{Index: o.Index, Type: o.Type, Name: o.Name, Version: o.Version, Err: err}
}

// quoteShort quotes a user-supplied value for a message, cut to a readable length.
func quoteShort(s string) string {
	const limit = 80
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
