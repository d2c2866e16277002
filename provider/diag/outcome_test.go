package diag_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kvcsi/kvcsi/provider/diag"
)

// No failure can be recorded as success: not an unclassified one, not a zero Outcome.
func TestOutcomeNeverCallsAFailureSuccess(t *testing.T) {
	kinds := []diag.Kind{diag.KindUnknown, diag.KindInvalid, diag.KindUnauthenticated, diag.KindPermissionDenied,
		diag.KindNotFound, diag.KindThrottled, diag.KindUnavailable, diag.KindDeadline, diag.KindInternal}
	for _, k := range kinds {
		o := diag.Failed(k)
		if o.Succeeded() || o.String() == "ok" || o.Kind() == diag.KindUnknown {
			t.Errorf("Failed(%s) = %v (succeeded %v, kind %s)", k, o, o.Succeeded(), o.Kind())
		}
	}
	if diag.Failed(diag.KindUnknown).Kind() != diag.KindInternal {
		t.Errorf("an unclassified failure is not internal")
	}
	var zero diag.Outcome
	if zero.Succeeded() || zero.String() != "internal" || zero.Kind() != diag.KindInternal {
		t.Errorf("the zero Outcome reads as %q (succeeded %v)", zero, zero.Succeeded())
	}
	for _, err := range []error{errors.New("boom"), fmt.Errorf("x: %w", context.Canceled), diag.New(diag.KindUnknown, errors.New("?"), "")} {
		if o := diag.OutcomeOf(err); o.Succeeded() || o.String() == "ok" {
			t.Errorf("OutcomeOf(%v) = %v", err, o)
		}
	}
	if o := diag.OutcomeOf(nil); !o.Succeeded() || o.String() != "ok" || o != diag.Success() {
		t.Errorf("OutcomeOf(nil) = %v", o)
	}
	if o := diag.OutcomeOf(diag.New(diag.KindThrottled, errors.New("slow"), "")); o.Kind() != diag.KindThrottled || o.String() != "throttled" {
		t.Errorf("OutcomeOf(throttled) = %v", o)
	}
}
