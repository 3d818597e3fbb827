// Package eventpattern matches JSON events against EventBridge event
// patterns, the syntax of EventBridge rules and of Lambda's event filtering
// (an event source mapping's FilterCriteria). It implements the documented
// operators: exact values (strings, numbers, true, false, null), prefix and
// suffix (each optionally with equals-ignore-case), equals-ignore-case,
// wildcard, anything-but (a value, a list, or a prefix, suffix,
// equals-ignore-case or wildcard), numeric ranges, exists, cidr and $or.
//
// Semantics, as EventBridge documents them: every field a pattern names
// must match (and); a field matches when its value, or any element of an
// array value, matches any entry of the pattern's list (or); a field the
// event lacks matches only {"exists": false}; matching applies to leaves, so
// a field whose value is an object counts as absent for a leaf list. Arrays
// of objects are matched element by element: the fields a sub-pattern names
// must all match inside one element.
package eventpattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Pattern is a parsed event pattern.
type Pattern struct{ root *node }

// node is one object level of a pattern: per field either a child object
// or a list of leaf matchers, and the $or alternatives of this level.
type node struct {
	fields   []string // sorted, for deterministic errors
	children map[string]*node
	leaves   map[string][]matcher
	ors      [][]*node
}

// Parse reads a pattern; a malformed one is an error that says where.
func Parse(data []byte) (*Pattern, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	if dec.More() {
		return nil, errors.New("event pattern: data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("event pattern: want a JSON object")
	}
	if len(obj) == 0 {
		return nil, errors.New("event pattern: empty; name at least one field")
	}
	root, err := parseNode(obj, "")
	if err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	return &Pattern{root: root}, nil
}

// MustParse is Parse for patterns known at compile time; it panics on error.
func MustParse(s string) *Pattern {
	p, err := Parse([]byte(s))
	if err != nil {
		panic(err)
	}
	return p
}

func parseNode(obj map[string]any, path string) (*node, error) {
	n := &node{children: map[string]*node{}, leaves: map[string][]matcher{}}
	for _, f := range sortedKeys(obj) {
		where := join(path, f)
		switch v := obj[f].(type) {
		case map[string]any:
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: an empty object matches nothing", where)
			}
			child, err := parseNode(v, where)
			if err != nil {
				return nil, err
			}
			n.children[f] = child
		case []any:
			if f == "$or" {
				alts, err := parseOr(v, where)
				if err != nil {
					return nil, err
				}
				n.ors = append(n.ors, alts)
				continue
			}
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: an empty list matches nothing", where)
			}
			ms := make([]matcher, 0, len(v))
			for i, e := range v {
				m, err := parseMatcher(e)
				if err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
				}
				ms = append(ms, m)
			}
			n.leaves[f] = ms
		default:
			return nil, fmt.Errorf("%s: want a list of values or an object, found %s", where, show(v))
		}
		n.fields = append(n.fields, f)
	}
	return n, nil
}

func parseOr(list []any, where string) ([]*node, error) {
	if len(list) < 2 {
		return nil, fmt.Errorf("%s: $or needs at least two alternatives", where)
	}
	alts := make([]*node, 0, len(list))
	for i, e := range list {
		obj, ok := e.(map[string]any)
		if !ok || len(obj) == 0 {
			return nil, fmt.Errorf("%s[%d]: an alternative must be a non-empty object", where, i)
		}
		alt, err := parseNode(obj, fmt.Sprintf("%s[%d]", where, i))
		if err != nil {
			return nil, err
		}
		alts = append(alts, alt)
	}
	return alts, nil
}

func join(path, f string) string {
	if path == "" {
		return f
	}
	return path + "." + f
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Match reports whether the JSON event matches; an event that is not a
// JSON object is an error.
func (p *Pattern) Match(event []byte) (bool, error) {
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return false, fmt.Errorf("event: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false, errors.New("event: want a JSON object")
	}
	return p.root.match(obj), nil
}

// MatchValue is Match for an event already decoded with json.Decoder's
// UseNumber (numbers as json.Number; float64 works too).
func (p *Pattern) MatchValue(event map[string]any) bool { return p.root.match(event) }

// match reports whether obj (nil: the object is absent) matches n.
func (n *node) match(obj map[string]any) bool {
	for _, f := range n.fields {
		if child, ok := n.children[f]; ok {
			if !child.matchValue(lookup(obj, f)) {
				return false
			}
			continue
		}
		if !matchLeaf(n.leaves[f], lookup(obj, f)) {
			return false
		}
	}
	for _, alts := range n.ors {
		if !slices.ContainsFunc(alts, func(a *node) bool { return a.match(obj) }) {
			return false
		}
	}
	return true
}

// absent marks a field the event does not have.
type absentT struct{}

var absent = absentT{}

func lookup(obj map[string]any, f string) any {
	if obj == nil {
		return absent
	}
	v, ok := obj[f]
	if !ok {
		return absent
	}
	return v
}

// matchValue matches a sub-pattern against a field's value: an object, an
// array (any object element that matches), or anything else, which is
// absent as far as the sub-pattern's leaves go.
func (n *node) matchValue(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return n.match(x)
	case []any:
		objs := 0
		for _, e := range x {
			if o, ok := e.(map[string]any); ok {
				objs++
				if n.match(o) {
					return true
				}
			}
		}
		return objs == 0 && n.match(nil)
	default:
		return n.match(nil)
	}
}

// matchLeaf matches a field's value against a leaf list.
func matchLeaf(ms []matcher, v any) bool {
	var vals []any
	switch x := v.(type) {
	case absentT, map[string]any:
		vals = nil
	case []any:
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				// objects and nested arrays are not leaves here
			default:
				vals = append(vals, e)
			}
		}
	default:
		vals = []any{x}
	}
	for _, m := range ms {
		if e, ok := m.(existsMatcher); ok {
			if bool(e) == (len(vals) > 0) {
				return true
			}
			continue
		}
		for _, val := range vals {
			if m.match(val) {
				return true
			}
		}
	}
	return false
}

// matcher is one entry of a leaf list.
type matcher interface{ match(v any) bool }

type (
	exactMatcher  struct{ v any } // string, json.Number, bool or nil
	existsMatcher bool
	prefixMatcher struct {
		s          string
		ignoreCase bool
		suffix     bool
	}
	ignoreCaseMatcher string
	wildcardMatcher   struct{ parts []string } // literal parts between '*'
	anythingBut       struct{ inner []matcher }
	numericMatcher    struct{ conds []numCond }
	cidrMatcher       netip.Prefix
)

type numCond struct {
	op string
	v  float64
}

func parseMatcher(e any) (matcher, error) {
	switch x := e.(type) {
	case string, bool, nil:
		return exactMatcher{x}, nil
	case json.Number:
		if _, err := x.Float64(); err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return exactMatcher{x}, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, fmt.Errorf("an operator object must have exactly one key, found %s", show(x))
		}
		for op, arg := range x {
			return parseOperator(op, arg)
		}
	}
	return nil, fmt.Errorf("%s is not a value or an operator", show(e))
}

func parseOperator(op string, arg any) (matcher, error) {
	switch op {
	case "prefix", "suffix":
		s, ignore, err := stringOrIgnoreCase(op, arg)
		return prefixMatcher{s: s, ignoreCase: ignore, suffix: op == "suffix"}, err
	case "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("equals-ignore-case wants a string, found %s", show(arg))
		}
		return ignoreCaseMatcher(s), nil
	case "wildcard":
		s, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("wildcard wants a string, found %s", show(arg))
		}
		return parseWildcard(s)
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return nil, fmt.Errorf("exists wants true or false, found %s", show(arg))
		}
		return existsMatcher(b), nil
	case "numeric":
		return parseNumeric(arg)
	case "cidr":
		s, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("cidr wants a string, found %s", show(arg))
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("cidr %q: %w", s, err)
		}
		return cidrMatcher(p.Masked()), nil
	case "anything-but":
		return parseAnythingBut(arg)
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}

func stringOrIgnoreCase(op string, arg any) (string, bool, error) {
	switch x := arg.(type) {
	case string:
		return x, false, nil
	case map[string]any:
		if s, ok := x["equals-ignore-case"].(string); ok && len(x) == 1 {
			return s, true, nil
		}
	}
	return "", false, fmt.Errorf("%s wants a string or {\"equals-ignore-case\": a string}, found %s", op, show(arg))
}

func parseWildcard(s string) (wildcardMatcher, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return wildcardMatcher{}, fmt.Errorf("wildcard %q: a backslash may only escape * or \\", s)
			}
			i++
			cur.WriteByte(s[i])
		case '*':
			if i+1 < len(s) && s[i+1] == '*' {
				return wildcardMatcher{}, fmt.Errorf("wildcard %q: consecutive * are not allowed", s)
			}
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return wildcardMatcher{parts: append(parts, cur.String())}, nil
}

func parseNumeric(arg any) (matcher, error) {
	list, ok := arg.([]any)
	if !ok || len(list) == 0 || len(list)%2 != 0 || len(list) > 4 {
		return nil, fmt.Errorf("numeric wants [op, number] or [op, number, op, number], found %s", show(arg))
	}
	var m numericMatcher
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		num, isNum := list[i+1].(json.Number)
		if !ok || !isNum || !slices.Contains([]string{"=", "<", "<=", ">", ">="}, op) {
			return nil, fmt.Errorf("numeric: %s %s is not an operator (=, <, <=, >, >=) and a number", show(list[i]), show(list[i+1]))
		}
		f, err := num.Float64()
		if err != nil || math.Abs(f) > 5e9 {
			return nil, fmt.Errorf("numeric: %s is outside -5e9..5e9", num)
		}
		m.conds = append(m.conds, numCond{op: op, v: f})
	}
	if len(m.conds) == 2 && (m.conds[0].op == "=" || m.conds[1].op == "=" ||
		strings.HasPrefix(m.conds[0].op, "<") || strings.HasPrefix(m.conds[1].op, ">")) {
		return nil, fmt.Errorf("numeric: a range is a lower bound (>, >=) then an upper bound (<, <=), found %s", show(arg))
	}
	return m, nil
}

func parseAnythingBut(arg any) (matcher, error) {
	switch x := arg.(type) {
	case string, json.Number:
		m, err := parseMatcher(x)
		return anythingBut{inner: []matcher{m}}, err
	case []any:
		if len(x) == 0 {
			return nil, errors.New("anything-but: an empty list")
		}
		var inner []matcher
		strs, nums := 0, 0
		for _, e := range x {
			switch e.(type) {
			case string:
				strs++
			case json.Number:
				nums++
			default:
				return nil, fmt.Errorf("anything-but: list entries must be strings or numbers, found %s", show(e))
			}
			m, err := parseMatcher(e)
			if err != nil {
				return nil, err
			}
			inner = append(inner, m)
		}
		if strs > 0 && nums > 0 {
			return nil, errors.New("anything-but: a list must hold only strings or only numbers")
		}
		return anythingBut{inner: inner}, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, fmt.Errorf("anything-but: an operator object must have one key, found %s", show(x))
		}
		for op, v := range x {
			switch op {
			case "prefix", "suffix":
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("anything-but %s wants a string", op)
				}
				return anythingBut{inner: []matcher{prefixMatcher{s: s, suffix: op == "suffix"}}}, nil
			case "equals-ignore-case", "wildcard":
				var inner []matcher
				vals, isList := v.([]any)
				if !isList {
					vals = []any{v}
				}
				for _, e := range vals {
					m, err := parseOperator(op, e)
					if err != nil {
						return nil, fmt.Errorf("anything-but: %w", err)
					}
					inner = append(inner, m)
				}
				return anythingBut{inner: inner}, nil
			}
			return nil, fmt.Errorf("anything-but: unsupported operator %q", op)
		}
	}
	return nil, fmt.Errorf("anything-but wants a value, a list, or an operator object, found %s", show(arg))
}

func (m exactMatcher) match(v any) bool {
	switch want := m.v.(type) {
	case string:
		got, ok := v.(string)
		return ok && got == want
	case json.Number:
		got, ok := number(v)
		w, _ := want.Float64()
		return ok && got == w
	case bool:
		got, ok := v.(bool)
		return ok && got == want
	case nil:
		return v == nil
	}
	return false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

func (m existsMatcher) match(any) bool { return false } // handled by matchLeaf

func (m prefixMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok || len(s) < len(m.s) {
		return false
	}
	part := s[:len(m.s)]
	if m.suffix {
		part = s[len(s)-len(m.s):]
	}
	if m.ignoreCase {
		return strings.EqualFold(part, m.s)
	}
	return part == m.s
}

func (m ignoreCaseMatcher) match(v any) bool {
	s, ok := v.(string)
	return ok && strings.EqualFold(s, string(m))
}

func (m wildcardMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	parts := m.parts
	if len(parts) == 1 {
		return s == parts[0]
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

func (m anythingBut) match(v any) bool {
	switch v.(type) {
	case string, json.Number, float64:
	default:
		return false // anything-but compares strings and numbers
	}
	for _, in := range m.inner {
		if in.match(v) {
			return false
		}
	}
	return true
}

func (m numericMatcher) match(v any) bool {
	f, ok := number(v)
	if !ok {
		return false
	}
	for _, c := range m.conds {
		var hit bool
		switch c.op {
		case "=":
			hit = f == c.v
		case "<":
			hit = f < c.v
		case "<=":
			hit = f <= c.v
		case ">":
			hit = f > c.v
		case ">=":
			hit = f >= c.v
		}
		if !hit {
			return false
		}
	}
	return true
}

func (m cidrMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	addr, err := netip.ParseAddr(s)
	return err == nil && netip.Prefix(m).Contains(addr.Unmap())
}
