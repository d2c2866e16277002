package diag

// Outcome is how an operation ended: success, or a failure of some kind. Observers
// (metrics) get an Outcome rather than a Kind so that success is never spelled as a
// failure kind: the zero Outcome is an internal failure, and only Success() or
// OutcomeOf(nil) say that something worked.
type Outcome struct {
	ok   bool
	kind Kind // failures only; never KindUnknown once set by Failed
}

// Success is the outcome of an operation that worked.
func Success() Outcome { return Outcome{ok: true} }

// Failed is the outcome of a failure of kind k. A failure nothing classifies
// (KindUnknown) is reported as internal: it is still a failure.
func Failed(k Kind) Outcome {
	if k == KindUnknown {
		k = KindInternal
	}
	return Outcome{kind: k}
}

// OutcomeOf is Success for a nil error and Failed(Classify(err)) otherwise.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Success()
	}
	return Failed(Classify(err))
}

// Succeeded reports whether the operation worked.
func (o Outcome) Succeeded() bool { return o.ok }

// Kind is the failure's kind, KindInternal for a zero Outcome, and KindUnknown only
// for a success.
func (o Outcome) Kind() Kind {
	switch {
	case o.ok:
		return KindUnknown
	case o.kind == KindUnknown:
		return KindInternal
	}
	return o.kind
}

// String is a bounded label value: "ok", or the failure kind's label.
func (o Outcome) String() string {
	if o.ok {
		return "ok"
	}
	return o.Kind().String()
}
