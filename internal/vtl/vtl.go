// Package vtl renders the part of API Gateway's mapping templates (Apache
// Velocity) that the emulator serves: literal text with $context variable
// references, and the selection expressions that pick a template by key.
//
// Anything else a template may hold (directives such as #set or #if,
// $input, $util, $stageVariables, escapes) is refused when the template is
// parsed, with the construct named, so the emulator never serves a template
// differently from API Gateway: it fails at start instead.
package vtl

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Contexts lists the $context variables of WebSocket mapping templates
// (API Gateway Developer Guide, "WebSocket API mapping template reference")
// that the emulator fills. $context.authorizer.<key> is any key of the
// authorizer's context.
var Contexts = []string{
	"connectionId", "connectedAt", "domainName", "eventType", "messageId",
	"routeKey", "requestId", "extendedRequestId", "apiId", "stage",
	"requestTime", "requestTimeEpoch", "identity.sourceIp", "identity.userAgent",
	"authorizer.principalId",
}

// Template is a parsed mapping template.
type Template struct {
	parts []part
}

type part struct {
	text string // literal, when ref is ""
	ref  string // a $context variable name, e.g. "connectionId"
}

var refRE = regexp.MustCompile(`^\$(\{context\.([A-Za-z0-9_.]+)\}|context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*))`)

// Parse parses a template, or says which construct it cannot serve.
func Parse(src string) (*Template, error) {
	known := map[string]bool{}
	for _, c := range Contexts {
		known[c] = true
	}
	t := &Template{}
	var lit strings.Builder
	for i := 0; i < len(src); {
		switch c := src[i]; {
		case c == '#':
			return nil, fmt.Errorf("mapping template: directive %q is not emulated (only literal text and $context references are)", snippet(src[i:]))
		case c == '\\' && i+1 < len(src) && (src[i+1] == '$' || src[i+1] == '#'):
			return nil, fmt.Errorf("mapping template: escape %q is not emulated", snippet(src[i:]))
		case c == '$' && i+1 < len(src) && (isIdentStart(src[i+1]) || src[i+1] == '{' || src[i+1] == '!'):
			m := refRE.FindStringSubmatch(src[i:])
			if m == nil {
				return nil, fmt.Errorf("mapping template: reference %q is not emulated (only $context variables are)", snippet(src[i:]))
			}
			name := m[2] + m[3]
			if !known[name] && !strings.HasPrefix(name, "authorizer.") {
				return nil, fmt.Errorf("mapping template: $context.%s is not a WebSocket context variable the emulator knows (known: %s, authorizer.<key>)", name, strings.Join(Contexts, ", "))
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, part{text: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, part{ref: name})
			i += len(m[0])
		default:
			lit.WriteByte(c)
			i++
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{text: lit.String()})
	}
	return t, nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func snippet(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// Render fills the references with ctx (a missing key renders empty, as
// API Gateway renders an absent authorizer value).
func (t *Template) Render(ctx map[string]string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref == "" {
			b.WriteString(p.text)
			continue
		}
		b.WriteString(ctx[p.ref])
	}
	return b.String()
}

// ErrVariableSelection is returned for a selection expression that reads
// the request or response (e.g. ${request.body.action}).
var ErrVariableSelection = errors.New("selection expressions with variables are not emulated; use a literal key or \\$default")

// SelectionKey evaluates a template selection expression that is a
// literal: "\$default" is the key "$default", "200" is "200". An empty
// expression selects "$default".
func SelectionKey(expr string) (string, error) {
	if expr == "" {
		return Default, nil
	}
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		switch {
		case expr[i] == '\\' && i+1 < len(expr) && expr[i+1] == '$':
			b.WriteByte('$')
			i++
		case expr[i] == '$':
			if expr == Default {
				return Default, nil
			}
			return "", fmt.Errorf("%q: %w", expr, ErrVariableSelection)
		default:
			b.WriteByte(expr[i])
		}
	}
	return b.String(), nil
}

// Default is the catch-all key of templates, integration responses and
// route responses.
const Default = "$default"

// Select returns the template for key, else the $default one, else nil.
func Select[T any](m map[string]T, key string) (T, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	v, ok := m[Default]
	return v, ok
}

// ResponseKey is an integration response key: "$default", or a pattern in
// slashes ("/2\d\d/") matched against the whole status code.
type ResponseKey struct {
	Key string
	re  *regexp.Regexp
}

// ParseResponseKey checks an integration response key.
func ParseResponseKey(key string) (ResponseKey, error) {
	if key == Default {
		return ResponseKey{Key: key}, nil
	}
	if len(key) < 3 || key[0] != '/' || key[len(key)-1] != '/' {
		return ResponseKey{}, fmt.Errorf("integration response key %q: want $default or /pattern/", key)
	}
	re, err := regexp.Compile(`^(?:` + key[1:len(key)-1] + `)$`)
	if err != nil {
		return ResponseKey{}, fmt.Errorf("integration response key %q: %w", key, err)
	}
	return ResponseKey{Key: key, re: re}, nil
}

// Matches reports whether a pattern key matches status; $default matches
// nothing here (it is the fallback, chosen by the caller).
func (k ResponseKey) Matches(status string) bool {
	return k.re != nil && k.re.MatchString(status)
}
