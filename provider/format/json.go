package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmespath-community/go-jmespath/pkg/functions"
	"github.com/jmespath-community/go-jmespath/pkg/interpreter"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"

	"github.com/kvcsi/kvcsi/provider/heuristics"
)

// Bounds on a jmesPath expression. A SecretProviderClass is written by whoever may
// create one in a namespace, and the daemon serves every pod of the node: an
// expression must not be able to make it allocate without bound (pad_left(”,
// `1e10`) or [@,@] | [@,@] | ... doubling the document at every step).
const (
	// MaxJSONPathLength bounds the expression's text (and so the parser's depth).
	MaxJSONPathLength = 1024
	// maxJSONPathGrowth bounds how many times larger than the secret (and the
	// expression's literals) the result and every intermediate value can be.
	maxJSONPathGrowth = 64
)

// ErrUnsupportedJSONPath marks an expression that parses but is refused by the
// bounds above.
var ErrUnsupportedJSONPath = errors.New("unsupported JMESPath expression")

// jsonFunctions are the JMESPath functions an expression may call: those of the
// JMESPath specification (the set the AWS provider's users know) plus the
// jmespath-community string and object helpers whose output is never larger than
// their input. pad_left, pad_right and replace can build strings of any size from
// a short expression and are left out; so are let expressions and variables.
var jsonFunctions = map[string]float64{
	// name → how many times larger than its arguments the result can be
	"abs": 1, "avg": 1, "ceil": 1, "contains": 1, "ends_with": 1, "floor": 1, "keys": 1, "length": 1,
	"map": 1, "max": 1, "max_by": 1, "merge": 1, "min": 1, "min_by": 1, "not_null": 1, "reverse": 1,
	"sort": 1, "sort_by": 1, "starts_with": 1, "sum": 1, "to_array": 1, "to_number": 1, "type": 1,
	"values": 1, "lower": 1, "upper": 1, "trim": 1, "trim_left": 1, "trim_right": 1, "find_first": 1,
	"find_last": 1, "items": 2, "from_items": 1, "group_by": 1, "zip": 1,
	"to_string": 6, // JSON escaping: one byte can become \u00XX
	"split":     4, // every byte can become a one-character string
	"join":      0, // grows with the separator, which must be a literal
}

var jsonFunctionCaller = func() interpreter.FunctionCaller {
	var allowed []functions.FunctionEntry
	for _, f := range functions.GetDefaultFunctions() {
		if _, ok := jsonFunctions[f.Name]; ok {
			allowed = append(allowed, f)
		}
	}
	return interpreter.NewFunctionCaller(allowed...)
}()

// JSONQuery is a parsed jmesPath expression that passed the bounds above.
type JSONQuery struct {
	expr string
	ast  parsing.ASTNode
}

// CompileJSONPath parses a JMESPath expression and checks it against the bounds
// above. Its errors say which part of the expression is refused.
func CompileJSONPath(expr string) (q *JSONQuery, err error) {
	if len(expr) > MaxJSONPathLength {
		return nil, fmt.Errorf("%w: the expression is %d bytes long, more than the %d allowed", ErrUnsupportedJSONPath, len(expr), MaxJSONPathLength)
	}
	defer func() {
		// The parser is third-party code; a panic in it must not take the daemon down.
		if r := recover(); r != nil {
			q, err = nil, errors.New("cannot parse expression")
		}
	}()
	ast, err := parsing.NewParser().Parse(expr)
	if err != nil {
		return nil, err
	}
	growth, err := jsonGrowth(ast)
	if err != nil {
		return nil, err
	}
	if growth > maxJSONPathGrowth {
		return nil, fmt.Errorf("%w: the expression can build a result more than %d times the size of the secret "+
			"(multi-select lists and hashes, long literals in projections, to_string, split and join multiply it)",
			ErrUnsupportedJSONPath, maxJSONPathGrowth)
	}
	return &JSONQuery{expr: expr, ast: ast}, nil
}

// jsonGrowth returns an upper bound of how many times larger than its input a node's
// value can be, saturating just above the limit so that it cannot overflow.
func jsonGrowth(n parsing.ASTNode) (float64, error) {
	growths := make([]float64, len(n.Children))
	for i, c := range n.Children {
		g, err := jsonGrowth(c)
		if err != nil {
			return 0, err
		}
		growths[i] = g
	}
	sum, product, largest := 0.0, 1.0, 1.0
	for _, g := range growths {
		sum, product, largest = sum+g, product*g, max(largest, g)
	}
	limit := func(g float64) float64 { return min(max(g, 1), maxJSONPathGrowth+1) }
	switch n.NodeType {
	case parsing.ASTMultiSelectList, parsing.ASTMultiSelectHash:
		// Every element is evaluated on the same value and kept.
		return limit(sum), nil
	case parsing.ASTComparator, parsing.ASTNotExpression, parsing.ASTArithmeticExpression,
		parsing.ASTArithmeticUnaryExpression:
		return 1, nil // a boolean or a number
	case parsing.ASTOrExpression, parsing.ASTAndExpression:
		return limit(largest), nil // one of the operands
	case parsing.ASTFilterProjection:
		// [left, right, condition]: the condition only selects.
		return limit(growths[0] * growths[1]), nil
	case parsing.ASTLiteral:
		// Repeated once per element inside a projection: weigh long literals.
		text, _ := json.Marshal(n.Value)
		return limit(float64(len(text) / 4)), nil
	case parsing.ASTRootNode:
		// Inside a projection, $ repeats the whole document once per element.
		return 0, fmt.Errorf("%w: the root reference $ is not supported: write the path from the top of the document without it", ErrUnsupportedJSONPath)
	case parsing.ASTLetExpression, parsing.ASTBindings, parsing.ASTBinding, parsing.ASTVariable:
		return 0, fmt.Errorf("%w: let expressions and $variables are not supported", ErrUnsupportedJSONPath)
	case parsing.ASTFunctionExpression:
		name, _ := n.Value.(string)
		factor, ok := jsonFunctions[name]
		if !ok {
			return 0, fmt.Errorf("%w: function %s is not supported (it is not a JMESPath specification function, "+
				"or it can build output of any size)", ErrUnsupportedJSONPath, name)
		}
		if name == "join" {
			sep, ok := literalString(n.Children)
			if !ok {
				return 0, fmt.Errorf("%w: join's separator must be a literal string, such as join(',', hosts)", ErrUnsupportedJSONPath)
			}
			// Each element, at least three bytes of JSON (""), gains one separator.
			return limit(growths[len(growths)-1] * float64(1+len(sep)/3)), nil
		}
		return limit(max(sum, product) * factor), nil
	}
	// Chains (sub-expressions, pipes, projections, index expressions) apply each
	// part to the previous one's result; leaves are 1.
	return limit(product), nil
}

func literalString(args []parsing.ASTNode) (string, bool) {
	if len(args) == 0 || args[0].NodeType != parsing.ASTLiteral {
		return "", false
	}
	s, ok := args[0].Value.(string)
	return s, ok
}

// Extract evaluates the query on content parsed as JSON (a leading UTF-8
// byte-order mark is ignored). A string result is returned raw, without quotes;
// numbers, booleans, objects and arrays as compact JSON (numbers go through
// float64, as JMESPath requires: integers beyond 2^53 lose precision). A null
// result is ErrNoMatch, content that is not JSON is ErrNotJSON.
//
// Error messages hold the expression and byte offsets, never the content.
func (q *JSONQuery) Extract(content []byte) (out []byte, err error) {
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
			out, err = nil, fmt.Errorf("evaluating JMESPath expression %q failed", q.expr)
		}
	}()
	result, err := interpreter.NewInterpreter(doc, jsonFunctionCaller, nil).Execute(q.ast, doc)
	if err != nil {
		// The interpreter's argument-type errors print the offending value.
		msg := err.Error()
		if heuristics.JMESPathArgumentType(err) {
			msg = "a function argument has the wrong type"
		}
		return nil, fmt.Errorf("evaluating JMESPath expression %q: %s", q.expr, msg)
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
		return nil, fmt.Errorf("the result of JMESPath expression %q cannot be written as JSON", q.expr)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ExtractJSON compiles expr (CompileJSONPath) and evaluates it on content (Extract).
func ExtractJSON(content []byte, expr string) ([]byte, error) {
	q, err := CompileJSONPath(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid JMESPath expression %q: %w", expr, err)
	}
	return q.Extract(content)
}
