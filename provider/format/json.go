package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jmespath "github.com/jmespath-community/go-jmespath"
)

// ExtractJSON evaluates a JMESPath expression on content parsed as JSON (a leading
// UTF-8 byte-order mark is ignored). A string result is returned raw, without
// quotes; numbers, booleans, objects and arrays as compact JSON (numbers go through
// float64, as JMESPath requires: integers beyond 2^53 lose precision). A null result
// is ErrNoMatch, content that is not JSON is ErrNotJSON.
//
// Error messages hold the expression and byte offsets, never the content.
func ExtractJSON(content []byte, expr string) (out []byte, err error) {
	query, err := jmespath.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid JMESPath expression %q: %w", expr, err)
	}
	var doc any
	if err := json.Unmarshal(bytes.TrimPrefix(content, []byte("\xef\xbb\xbf")), &doc); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("%w (syntax error at byte %d)", ErrNotJSON, syntax.Offset)
		}
		return nil, ErrNotJSON
	}

	defer func() {
		// The JMESPath interpreter is third-party code run on untrusted data.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("evaluating JMESPath expression %q failed", expr)
		}
	}()
	result, err := query.Search(doc)
	if err != nil {
		// The interpreter's argument-type errors print the offending value.
		msg := err.Error()
		if strings.Contains(msg, "invalid type for:") {
			msg = "a function argument has the wrong type"
		}
		return nil, fmt.Errorf("evaluating JMESPath expression %q: %s", expr, msg)
	}
	switch v := result.(type) {
	case nil:
		return nil, ErrNoMatch
	case string:
		return []byte(v), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(result); err != nil {
		return nil, fmt.Errorf("the result of JMESPath expression %q cannot be written as JSON", expr)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
