package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// fields reads the properties (or the metadata) of one resource. A value of
// the wrong JSON type is an *Error naming the resource, the property and the
// type found, never a silent "": a misread property would otherwise surface
// later as a misleading problem ("not emulated: \"\"").
type fields struct {
	id, typ string
	prefix  string // "Metadata." for metadata keys, "" for properties
	m       map[string]json.RawMessage
}

func (p *parser) props(id string) fields {
	r := p.doc.Resources[id]
	return fields{id: id, typ: r.Type, m: r.Properties}
}

func (p *parser) metadata(id string) fields {
	r := p.doc.Resources[id]
	return fields{id: id, typ: r.Type, prefix: "Metadata.", m: r.Metadata}
}

func (f fields) fail(prop, problem string) *Error {
	return &Error{Resource: f.id, Type: f.typ, Property: f.prefix + prop, Problem: problem}
}

func (f fields) wrongType(prop, want string, raw json.RawMessage) *Error {
	return f.fail(prop, "want "+want+", found "+jsonType(raw))
}

// raw returns the property's JSON; ok is false when it is absent or null.
func (f fields) raw(prop string) (json.RawMessage, bool) {
	raw, ok := f.m[prop]
	if !ok || jsonType(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// str returns a literal string property, "" when it is absent or null.
func (f fields) str(prop string) (string, error) {
	raw, ok := f.raw(prop)
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", f.wrongType(prop, "a string", raw)
	}
	return s, nil
}

// number returns a whole-number property; ok is false when it is absent.
// CloudFormation takes numbers written as strings too ("30").
func (f fields) number(prop string) (n int, ok bool, err error) {
	raw, ok := f.raw(prop)
	if !ok {
		return 0, false, nil
	}
	var s string
	switch jsonType(raw) {
	case "a number":
		s = string(bytes.TrimSpace(raw))
	case "a string":
		_ = json.Unmarshal(raw, &s) // cannot fail: jsonType saw a string
	default:
		return 0, true, f.wrongType(prop, "a number", raw)
	}
	n, convErr := strconv.Atoi(s)
	if convErr != nil {
		return 0, true, f.fail(prop, fmt.Sprintf("want a whole number, found %q", s))
	}
	return n, true, nil
}

// boolean returns a literal boolean property, false when it is absent.
// CloudFormation takes "true" and "false" as strings too.
func (f fields) boolean(prop string) (bool, error) {
	raw, ok := f.raw(prop)
	if !ok {
		return false, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && (s == "true" || s == "false") {
		return s == "true", nil
	}
	return false, f.wrongType(prop, "a boolean", raw)
}

// enabled reads an EventBridge rule's State: ENABLED (or absent) or
// DISABLED.
func (f fields) enabled() (bool, error) {
	state, err := f.str("State")
	if err != nil {
		return false, err
	}
	switch state {
	case "", "ENABLED":
		return true, nil
	case "DISABLED":
		return false, nil
	}
	return false, f.fail("State", fmt.Sprintf("%q: want ENABLED or DISABLED", state))
}

// reportBatchItemFailures reads an event source mapping's
// FunctionResponseTypes: absent, empty or [ReportBatchItemFailures].
func (f fields) reportBatchItemFailures() (bool, error) {
	raw, ok := f.raw("FunctionResponseTypes")
	if !ok {
		return false, nil
	}
	var types []string
	if err := json.Unmarshal(raw, &types); err != nil {
		return false, f.wrongType("FunctionResponseTypes", "a list of strings", raw)
	}
	for _, t := range types {
		if t != "ReportBatchItemFailures" {
			return false, f.fail("FunctionResponseTypes", fmt.Sprintf("%q: only ReportBatchItemFailures exists", t))
		}
	}
	return len(types) > 0, nil
}

// value returns a property as generic JSON for the intrinsic resolver.
func (f fields) value(prop string) (any, bool) {
	raw, ok := f.raw(prop)
	if !ok {
		return nil, false
	}
	var v any
	_ = json.Unmarshal(raw, &v) // cannot fail: the document parsed
	return v, true
}

// jsonType names the JSON type of raw for an error message; an object that
// is an intrinsic function is named as such, since that is the usual reason
// a literal was not found.
func jsonType(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) == nil && len(obj) == 1 {
			for k := range obj {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return "the intrinsic function " + k + " (this property must be a literal locally)"
				}
			}
		}
		return "an object"
	default:
		return "a number"
	}
}
