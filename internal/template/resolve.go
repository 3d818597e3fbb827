package template

import (
	"fmt"
	"strconv"
	"strings"
)

const urlSuffix = "amazonaws.com"

// resolve evaluates a template value that must become a string.
func (p *parser) resolve(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case map[string]any:
		if len(x) != 1 {
			return "", fmt.Errorf("an object that is not an intrinsic function: %v", x)
		}
		for fn, arg := range x {
			return p.intrinsic(fn, arg)
		}
	}
	return "", fmt.Errorf("cannot use %T as a string", v)
}

func (p *parser) intrinsic(fn string, arg any) (string, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return "", fmt.Errorf("a Ref must name a string, not %v", arg)
		}
		return p.ref(name)
	case "Fn::GetAtt":
		var parts []string
		switch a := arg.(type) {
		case string:
			parts = strings.SplitN(a, ".", 2)
		case []any:
			for _, e := range a {
				s, err := p.resolve(e)
				if err != nil {
					return "", err
				}
				parts = append(parts, s)
			}
		}
		if len(parts) != 2 {
			return "", fmt.Errorf("Fn::GetAtt of %v", arg)
		}
		return p.getAtt(parts[0], parts[1])
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return "", fmt.Errorf("Fn::Join wants [separator, [values]]")
		}
		sep, ok := a[0].(string)
		if !ok {
			return "", fmt.Errorf("Fn::Join separator must be a string")
		}
		list, err := p.resolveList(a[1])
		if err != nil {
			return "", err
		}
		return strings.Join(list, sep), nil
	case "Fn::Sub":
		switch a := arg.(type) {
		case string:
			return p.sub(a, nil)
		case []any:
			if len(a) != 2 {
				return "", fmt.Errorf("Fn::Sub wants a string or [string, {variables}]")
			}
			s, ok := a[0].(string)
			vars, ok2 := a[1].(map[string]any)
			if !ok || !ok2 {
				return "", fmt.Errorf("Fn::Sub wants a string or [string, {variables}]")
			}
			return p.sub(s, vars)
		}
		return "", fmt.Errorf("Fn::Sub of %v", arg)
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return "", fmt.Errorf("Fn::Select wants [index, [values]]")
		}
		idxStr, err := p.resolve(a[0])
		if err != nil {
			return "", err
		}
		idx, err := strconv.Atoi(idxStr)
		if err != nil {
			return "", fmt.Errorf("Fn::Select index %q", idxStr)
		}
		list, err := p.resolveList(a[1])
		if err != nil {
			return "", err
		}
		if idx < 0 || idx >= len(list) {
			return "", fmt.Errorf("Fn::Select index %d out of range", idx)
		}
		return list[idx], nil
	}
	return "", fmt.Errorf("intrinsic %s is not supported locally", fn)
}

// resolveList evaluates a list value: a literal list or Fn::Split.
func (p *parser) resolveList(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, err := p.resolve(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		if a, ok := x["Fn::Split"].([]any); ok && len(a) == 2 {
			sep, ok := a[0].(string)
			if !ok {
				return nil, fmt.Errorf("Fn::Split separator must be a string")
			}
			s, err := p.resolve(a[1])
			if err != nil {
				return nil, err
			}
			return strings.Split(s, sep), nil
		}
	}
	return nil, fmt.Errorf("cannot use %v as a list", v)
}

// sub expands ${Name}, ${Resource.Attribute} and ${!Literal}.
func (p *parser) sub(s string, vars map[string]any) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("Fn::Sub: unterminated ${ in %q", s)
		}
		name := s[i+2 : i+end]
		s = s[i+end+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		if v, ok := vars[name]; ok {
			val, err := p.resolve(v)
			if err != nil {
				return "", err
			}
			b.WriteString(val)
			continue
		}
		var val string
		var err error
		if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			val, err = p.getAtt(res, attr)
		} else {
			val, err = p.ref(name)
		}
		if err != nil {
			return "", err
		}
		b.WriteString(val)
	}
}

// ref is the local value of {"Ref": name}.
func (p *parser) ref(name string) (string, error) {
	switch name {
	case "AWS::Region":
		return p.opts.Region, nil
	case "AWS::AccountId":
		return p.opts.AccountID, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return urlSuffix, nil
	case "AWS::StackName":
		return "local", nil
	case "AWS::StackId":
		return "arn:aws:cloudformation:" + p.opts.Region + ":" + p.opts.AccountID + ":stack/local/00000000-0000-0000-0000-000000000000", nil
	}
	if prm, ok := p.doc.Parameters[name]; ok {
		if prm.Default == nil {
			return "", fmt.Errorf("parameter %s has no default", name)
		}
		return p.resolve(prm.Default)
	}
	r, ok := p.doc.Resources[name]
	if !ok {
		return "", fmt.Errorf("unknown resource or parameter %s in a Ref", name)
	}
	switch r.Type {
	case "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable":
		if t, ok := p.tables[name]; ok {
			return t.Name, nil
		}
	case "AWS::ApiGatewayV2::Api":
		if name == p.stack.API.LogicalID {
			return p.apiID, nil
		}
		if p.isHTTPAPI(name) {
			return localID(name), nil
		}
	case "AWS::SQS::Queue":
		if q, ok := p.queues[name]; ok {
			return queueURL(q)
		}
	case "AWS::ApiGatewayV2::Stage":
		return p.stageName, nil
	case "AWS::Lambda::Function":
		if f, ok := p.functions[name]; ok {
			return f.Name, nil
		}
	case "AWS::Events::EventBus":
		if b, ok := p.buses[name]; ok {
			return b.Name, nil
		}
	case "AWS::Events::Rule":
		if r, ok := p.rules[name]; ok {
			return r.Name, nil
		}
	case "AWS::SecretsManager::Secret":
		if sec, ok := p.secrets[name]; ok {
			return sec.ARN, nil
		}
	case "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Authorizer", "AWS::ApiGatewayV2::Route":
		// Their ids only appear in Target and AuthorizerId, which the parser
		// maps back to logical ids.
		return name, nil
	}
	return "", fmt.Errorf("a Ref to %s (%s) has no local value", name, r.Type)
}

// getAtt is the local value of {"Fn::GetAtt": [name, attr]}.
func (p *parser) getAtt(name, attr string) (string, error) {
	r, ok := p.doc.Resources[name]
	if !ok {
		return "", fmt.Errorf("Fn::GetAtt of unknown %s", name)
	}
	prefix := "arn:aws:"
	switch r.Type {
	case "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable":
		t, ok := p.tables[name]
		if !ok {
			break
		}
		arn := prefix + "dynamodb:" + p.opts.Region + ":" + p.opts.AccountID + ":table/" + t.Name
		switch attr {
		case "Arn":
			return arn, nil
		case "StreamArn":
			if t.StreamARN == "" {
				return "", fmt.Errorf("Fn::GetAtt %s.StreamArn: the table has no StreamSpecification", name)
			}
			return t.StreamARN, nil
		}
	case "AWS::Events::EventBus":
		if b, ok := p.buses[name]; ok {
			switch attr {
			case "Arn":
				return b.ARN, nil
			case "Name":
				return b.Name, nil
			}
		}
	case "AWS::Events::Rule":
		if r, ok := p.rules[name]; ok && attr == "Arn" {
			return r.ARN, nil
		}
	case "AWS::ApiGatewayV2::Api":
		if name != p.stack.API.LogicalID {
			break
		}
		switch attr {
		case "ApiEndpoint":
			return "ws://" + p.opts.Endpoint, nil
		case "ApiId":
			return p.apiID, nil
		}
	case "AWS::Lambda::Function":
		if f, ok := p.functions[name]; ok && attr == "Arn" {
			return f.ARN, nil
		}
	case "AWS::SQS::Queue":
		q, ok := p.queues[name]
		if !ok {
			break
		}
		switch attr {
		case "Arn":
			return q.ARN, nil
		case "QueueName":
			return q.Name, nil
		case "QueueUrl":
			return queueURL(q)
		}
	}
	return "", fmt.Errorf("Fn::GetAtt %s.%s (%s) has no local value", name, attr, r.Type)
}

// localizeURL rewrites the APIs' AWS URLs to the emulator's:
// https://{apiId}.execute-api.{region}.amazonaws.com → http://127.0.0.1:PORT
// (the @connections callback URL), wss:// → ws://, and an HTTP API's
// https://{apiId}.execute-api... → http://127.0.0.1:PORT/@http (where the
// emulator serves it: a publish URL handed to a function).
func (p *parser) localizeURL(s string) string {
	host := p.apiID + ".execute-api." + p.opts.Region + "." + urlSuffix
	s = strings.ReplaceAll(s, "https://"+host, "http://"+p.opts.Endpoint)
	s = strings.ReplaceAll(s, "wss://"+host, "ws://"+p.opts.Endpoint)
	for _, id := range p.ids("AWS::ApiGatewayV2::Api") {
		if p.isHTTPAPI(id) {
			h := localID(id) + ".execute-api." + p.opts.Region + "." + urlSuffix
			s = strings.ReplaceAll(s, "https://"+h, "http://"+p.opts.Endpoint+HTTPAPIPrefix)
		}
	}
	return s
}

// isHTTPAPI reports whether the resource id is an API of protocol HTTP.
func (p *parser) isHTTPAPI(id string) bool {
	proto, _ := p.props(id).str("ProtocolType")
	return proto == "HTTP"
}

// queueURL is what a queue's Ref resolves to: its URL on the local server.
func queueURL(q *Queue) (string, error) {
	if q.URL == "" {
		return "", fmt.Errorf("the URL of queue %s: no local SQS server", q.LogicalID)
	}
	return q.URL, nil
}
