package eventbridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// inputOf is what target t of rule gets for the event doc: the event, the
// constant Input, the part at InputPath, or the InputTransformer's output.
func inputOf(t Target, doc []byte, rule Rule) ([]byte, error) {
	switch {
	case t.Input != nil:
		return []byte(*t.Input), nil
	case t.InputPath != "":
		var ev any
		if err := json.Unmarshal(doc, &ev); err != nil {
			return nil, err
		}
		v, ok := jsonPath(ev, t.InputPath)
		if !ok {
			return []byte("null"), nil
		}
		return json.Marshal(v)
	case t.Transformer != nil:
		return transform(t.Transformer, doc, rule)
	}
	return doc, nil
}

// jsonPath evaluates the JSON paths EventBridge's input transformer takes:
// $ followed by .name (dashes and underscores allowed) and [index] steps.
func jsonPath(v any, path string) (any, bool) {
	rest, ok := strings.CutPrefix(path, "$")
	if !ok {
		return nil, false
	}
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = obj[rest[:end]]; !ok {
				return nil, false
			}
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, false
			}
			i, err := strconv.Atoi(rest[1:end])
			list, ok := v.([]any)
			if err != nil || !ok || i < 0 || i >= len(list) {
				return nil, false
			}
			v, rest = list[i], rest[end+1:]
		default:
			return nil, false
		}
	}
	return v, true
}

// transform fills the template's <variable> placeholders: a variable in a
// JSON string is inserted as text (escaped), elsewhere as JSON. The
// predefined aws.events.* variables are EventBridge's.
func transform(tr *Transformer, doc []byte, rule Rule) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(doc, &ev); err != nil {
		return nil, err
	}
	vars := map[string]any{}
	for name, path := range tr.PathsMap {
		if v, ok := jsonPath(ev, path); ok {
			vars[name] = v
		} else {
			vars[name] = nil
		}
	}
	noDetail := map[string]any{}
	for k, v := range ev {
		if k != "detail" {
			noDetail[k] = v
		}
	}
	predefined := map[string]any{
		"aws.events.rule-arn":             rule.ARN,
		"aws.events.rule-name":            rule.Name,
		"aws.events.event.ingestion-time": time.Now().UTC().Format(time.RFC3339),
		"aws.events.event":                noDetail,
		"aws.events.event.json":           json.RawMessage(doc),
	}
	var out bytes.Buffer
	inString := false
	s := tr.Template
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && inString && i+1 < len(s) {
			out.WriteByte(c)
			out.WriteByte(s[i+1])
			i++
			continue
		}
		if c == '"' {
			inString = !inString
		}
		if c == '<' {
			if end := strings.IndexByte(s[i:], '>'); end > 0 {
				name := s[i+1 : i+end]
				v, isVar := vars[name]
				if !isVar {
					v, isVar = predefined[name]
				}
				if isVar {
					if err := writeValue(&out, v, inString); err != nil {
						return nil, fmt.Errorf("input transformer variable <%s>: %w", name, err)
					}
					i += end
					continue
				}
			}
		}
		out.WriteByte(c)
	}
	b := out.Bytes()
	if t := bytes.TrimSpace(b); len(t) > 0 && (t[0] == '{' || t[0] == '[') && !json.Valid(t) {
		return nil, fmt.Errorf("input transformer output is not valid JSON: %s", b)
	}
	return b, nil
}

func writeValue(out *bytes.Buffer, v any, inString bool) error {
	if !inString {
		b, err := json.Marshal(v)
		out.Write(b)
		return err
	}
	var text string
	switch x := v.(type) {
	case nil:
	case string:
		text = x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		text = string(b)
	}
	q, _ := json.Marshal(text)
	out.Write(q[1 : len(q)-1]) // escaped, without the quotes the template has
	return nil
}
