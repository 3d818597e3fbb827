package template

import (
	"errors"
	"fmt"
	"strings"
)

// HTTPAPI is an AWS::ApiGatewayV2::Api of protocol HTTP with its one stage
// and its routes.
type HTTPAPI struct {
	LogicalID string
	ID        string // local API id
	Stage     string // "$default" serves at the root
	Throttle  StageThrottle
	Routes    []*HTTPRoute // sorted by key
}

// HTTPRoute is one route of an HTTP API: "METHOD /path/{param}".
type HTTPRoute struct {
	Key      string
	Method   string // "ANY" matches every method
	Path     string
	Function *Function
	// AuthorizationType is NONE or AWS_IAM (the emulator verifies SigV4).
	AuthorizationType string
}

// HTTPAPIPrefix is where the emulator serves the HTTP APIs on its port:
// /@http/<stage>/... ("@" cannot start a WebSocket stage name, so the two
// never collide). A function's variable holding an HTTP API's URL is
// rewritten to it.
const HTTPAPIPrefix = "/@http"

// parseHTTPAPIs reads every HTTP API: the stage, and each route with its
// Lambda proxy integration. JWT and Lambda authorizers are refused rather
// than silently left open.
func (p *parser) parseHTTPAPIs() error {
	for _, id := range p.ids("AWS::ApiGatewayV2::Api") {
		f := p.props(id)
		if proto, _ := f.str("ProtocolType"); proto != "HTTP" {
			continue
		}
		if _, ok := f.raw("Body"); ok {
			return f.fail("Body", "APIs imported from a definition are not supported")
		}
		api := &HTTPAPI{LogicalID: id, ID: localID(id)}
		if err := p.parseHTTPStage(api); err != nil {
			return err
		}
		integrations, err := p.httpIntegrations(id)
		if err != nil {
			return err
		}
		for _, rid := range p.ids("AWS::ApiGatewayV2::Route") {
			if !p.refersTo(p.doc.Resources[rid].Properties["ApiId"], id) {
				continue
			}
			r, err := p.parseHTTPRoute(rid, integrations)
			if err != nil {
				return err
			}
			api.Routes = append(api.Routes, r)
		}
		p.stack.HTTPAPIs = append(p.stack.HTTPAPIs, api)
	}
	return nil
}

func (p *parser) parseHTTPStage(api *HTTPAPI) error {
	var mine []string
	for _, sid := range p.ids("AWS::ApiGatewayV2::Stage") {
		if p.refersTo(p.doc.Resources[sid].Properties["ApiId"], api.LogicalID) {
			mine = append(mine, sid)
		}
	}
	if len(mine) != 1 {
		return &Error{Resource: api.LogicalID, Type: "AWS::ApiGatewayV2::Api", Problem: fmt.Sprintf("want exactly one AWS::ApiGatewayV2::Stage, found %d", len(mine))}
	}
	f := p.props(mine[0])
	name, err := f.str("StageName")
	if err != nil {
		return err
	}
	if name == "" || strings.ContainsAny(name, "/ ") {
		return f.fail("StageName", fmt.Sprintf("%q is not a usable path segment", name))
	}
	api.Stage = name
	api.Throttle, err = parseStageThrottle(mine[0], p.doc.Resources[mine[0]].Properties)
	return err
}

func (p *parser) httpIntegrations(apiID string) (map[string]*Function, error) {
	out := map[string]*Function{}
	for _, id := range p.ids("AWS::ApiGatewayV2::Integration") {
		if !p.refersTo(p.doc.Resources[id].Properties["ApiId"], apiID) {
			continue
		}
		f := p.props(id)
		typ, err := f.str("IntegrationType")
		if err != nil {
			return nil, err
		}
		if typ != "AWS_PROXY" {
			return nil, f.fail("IntegrationType", fmt.Sprintf("%q is not emulated; only AWS_PROXY (Lambda proxy) integrations", typ))
		}
		if v, _ := f.str("PayloadFormatVersion"); v != "2.0" {
			return nil, f.fail("PayloadFormatVersion", fmt.Sprintf("%q is not emulated; only 2.0", v))
		}
		fn, err := p.functionByARN(f)
		if err != nil {
			return nil, f.fail("IntegrationUri", err.Error())
		}
		out[id] = fn
	}
	return out, nil
}

// functionByARN resolves an HTTP integration's URI: a function ARN, or an
// invocation URI as WebSocket integrations use.
func (p *parser) functionByARN(f fields) (*Function, error) {
	v, ok := f.value("IntegrationUri")
	if !ok {
		return nil, errors.New("missing")
	}
	uri, err := p.resolve(v)
	if err != nil {
		return nil, err
	}
	if strings.Contains(uri, ":lambda:path/") {
		return p.lambdaURI(f.m["IntegrationUri"])
	}
	_, name, ok := strings.Cut(uri, ":function:")
	if !ok {
		return nil, fmt.Errorf("%q is not a Lambda function ARN; only Lambda integrations are emulated", uri)
	}
	name, _, _ = strings.Cut(name, ":")
	for _, fn := range p.functions {
		if fn.Name == name {
			return fn, nil
		}
	}
	return nil, fmt.Errorf("function %q is not defined in this template", name)
}

func (p *parser) parseHTTPRoute(id string, integrations map[string]*Function) (*HTTPRoute, error) {
	f := p.props(id)
	key, err := f.str("RouteKey")
	if err != nil {
		return nil, err
	}
	method, path, ok := strings.Cut(key, " ")
	if !ok || !strings.HasPrefix(path, "/") {
		return nil, f.fail("RouteKey", fmt.Sprintf("%q is not \"METHOD /path\" (a $default route is not emulated)", key))
	}
	r := &HTTPRoute{Key: key, Method: method, Path: path}
	v, ok := f.value("Target")
	if !ok {
		return nil, f.fail("Target", "missing: a route without an integration is not emulated")
	}
	target, err := p.resolve(v)
	if err != nil {
		return nil, f.fail("Target", err.Error())
	}
	integ, _ := strings.CutPrefix(target, "integrations/")
	if r.Function = integrations[integ]; r.Function == nil {
		return nil, f.fail("Target", fmt.Sprintf("%q is not integrations/<an integration of this API>", target))
	}
	r.AuthorizationType, err = f.str("AuthorizationType")
	if err != nil {
		return nil, err
	}
	switch r.AuthorizationType {
	case "":
		r.AuthorizationType = "NONE"
	case "NONE", "AWS_IAM":
	default:
		return nil, f.fail("AuthorizationType", fmt.Sprintf("%q is not emulated; only NONE and AWS_IAM", r.AuthorizationType))
	}
	return r, nil
}
