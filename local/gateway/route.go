package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Expression is a parsed route selection expression, $request.body.<path>.
type Expression struct {
	raw  string
	path []string
}

// ParseExpression parses a WebSocket route selection expression. API Gateway
// only accepts $request.body.<path>, where <path> is a dotted JSON path.
func ParseExpression(expr string) (Expression, error) {
	const prefix = "$request.body."
	inner := expr
	// ${request.body.action} is accepted by API Gateway as the same thing.
	if strings.HasPrefix(inner, "${") && strings.HasSuffix(inner, "}") {
		inner = "$" + inner[2:len(inner)-1]
	}
	if !strings.HasPrefix(inner, prefix) || len(inner) == len(prefix) {
		return Expression{}, fmt.Errorf("route selection expression %q: want $request.body.<path>", expr)
	}
	path := strings.Split(inner[len(prefix):], ".")
	for _, p := range path {
		if p == "" {
			return Expression{}, fmt.Errorf("route selection expression %q: empty path element", expr)
		}
	}
	return Expression{raw: expr, path: path}, nil
}

// String returns the expression as written.
func (e Expression) String() string { return e.raw }

// Evaluate returns the string the expression selects from a message body, and
// false when the body is not a JSON object or the value is missing or not a
// string: API Gateway then falls back to the $default route.
func (e Expression) Evaluate(body []byte) (string, bool) {
	if len(e.path) == 0 {
		return "", false
	}
	cur := json.RawMessage(bytes.TrimSpace(body))
	for _, key := range e.path {
		if len(cur) == 0 || cur[0] != '{' {
			return "", false
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil {
			return "", false
		}
		next, ok := obj[key]
		if !ok {
			return "", false
		}
		cur = bytes.TrimSpace(next)
	}
	var s string
	if len(cur) == 0 || cur[0] != '"' || json.Unmarshal(cur, &s) != nil {
		return "", false
	}
	return s, true
}

// selectRoute picks the route key for a message: the evaluated value if a
// route has that key, else $default; "" when there is no $default either.
func selectRoute(expr Expression, routes map[string]*Route, body []byte, text bool) string {
	if text {
		if key, ok := expr.Evaluate(body); ok && key != RouteConnect && key != RouteDisconnect {
			if _, found := routes[key]; found {
				return key
			}
		}
	}
	if _, found := routes[RouteDefault]; found {
		return RouteDefault
	}
	return ""
}
