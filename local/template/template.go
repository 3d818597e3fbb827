// Package template reads a synthesized CloudFormation template and extracts
// what the local emulator runs: the WebSocket API, its stage, routes,
// integrations and authorizer, the Lambda functions with their resolved
// environment, and the DynamoDB tables.
//
// Intrinsics resolve to local values: a table's Ref to its local table name,
// the API's Ref to a local api id, its ApiEndpoint to ws://127.0.0.1:PORT, and
// an execute-api callback URL (https://{api}.execute-api.{region}.{suffix}/{stage})
// to http://127.0.0.1:PORT/{stage}. Resource types that do not matter on one
// machine (IAM, logs, alarms, Cognito, permissions, deployments, ...) are
// ignored; anything that matters but cannot be emulated is an error that
// names the resource and the property.
package template

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MetadataGoPackage is the function metadata key naming its Go source package
// (contract.MetadataGoPackage).
const MetadataGoPackage = "wschat:goPackage"

// metadataAssetPath is where CDK records a function's asset directory in cdk.out.
const metadataAssetPath = "aws:asset:path"

// Options are the local values intrinsics resolve to.
type Options struct {
	Region    string // AWS::Region; "us-east-1" when empty
	AccountID string // AWS::AccountId; "000000000000" when empty
	// Endpoint is host:port of the emulator, e.g. "127.0.0.1:3001".
	Endpoint string
}

// Stack is the part of a template the emulator runs.
type Stack struct {
	Path      string
	API       API
	Stage     string
	Routes    []*Route // sorted by key
	Functions []*Function
	Tables    []*Table
	// Warnings name resources of types the emulator does not know and ignores.
	Warnings []string
}

// API is the AWS::ApiGatewayV2::Api of protocol WEBSOCKET.
type API struct {
	LogicalID                string
	Name                     string
	ID                       string // local api id
	RouteSelectionExpression string
}

// Route is an AWS::ApiGatewayV2::Route with its integration resolved.
type Route struct {
	LogicalID  string
	Key        string
	Function   *Function   // nil: no integration
	Authorizer *Authorizer // nil: AuthorizationType NONE
	TwoWay     bool        // a RouteResponse $default is configured
}

// Authorizer is an AWS::ApiGatewayV2::Authorizer of type REQUEST.
type Authorizer struct {
	LogicalID       string
	Name            string
	Function        *Function
	IdentitySources []string
}

// Function is an AWS::Lambda::Function.
type Function struct {
	LogicalID string
	// Name is the function name: FunctionName, else the logical id.
	Name string
	// Label is a short name for logs: the Go package's base name, else Name.
	Label string
	// Env holds the resolved environment variables.
	Env map[string]string
	// EnvErrors holds the variables that cannot be resolved locally. The
	// emulator may override some (the authorizer's issuer); any left is fatal.
	EnvErrors map[string]error
	Timeout   time.Duration
	MemoryMB  int
	// ReservedConcurrency is ReservedConcurrentExecutions; 0 when unset.
	ReservedConcurrency int
	Runtime             string
	Handler             string
	Architectures       []string
	// AssetDir is the absolute asset directory in cdk.out ("" if not recorded).
	AssetDir string
	// GoPackage is the source package, e.g. "./lambdas/chat" ("" if not recorded).
	GoPackage string
	// ARN is the function's local ARN.
	ARN string
}

// Table is an AWS::DynamoDB::Table or AWS::DynamoDB::GlobalTable.
type Table struct {
	LogicalID    string
	Name         string
	KeySchema    []KeyElement
	Attributes   []AttributeDefinition
	GlobalIndex  []Index
	LocalIndex   []Index
	TTLAttribute string
	StreamView   string
}

// KeyElement is one KeySchema entry.
type KeyElement struct {
	AttributeName string
	KeyType       string // HASH or RANGE
}

// AttributeDefinition is one AttributeDefinitions entry.
type AttributeDefinition struct {
	AttributeName string
	AttributeType string // S, N or B
}

// Index is a secondary index.
type Index struct {
	IndexName        string
	KeySchema        []KeyElement
	ProjectionType   string
	NonKeyAttributes []string
}

// Error is a template problem, naming the resource and property.
type Error struct {
	Resource string // logical id
	Type     string
	Property string
	Problem  string
}

func (e *Error) Error() string {
	where := e.Resource
	if e.Type != "" {
		where += " (" + e.Type + ")"
	}
	if e.Property != "" {
		where += " property " + e.Property
	}
	return where + ": " + e.Problem
}

type resource struct {
	Type       string                     `json:"Type"`
	Properties map[string]json.RawMessage `json:"Properties"`
	Metadata   map[string]json.RawMessage `json:"Metadata"`
	Condition  string                     `json:"Condition"`
}

type document struct {
	Transform  json.RawMessage      `json:"Transform"`
	Parameters map[string]parameter `json:"Parameters"`
	Resources  map[string]*resource `json:"Resources"`
}

type parameter struct {
	Type    string `json:"Type"`
	Default any    `json:"Default"`
}

// ignored lists resource types that have no local meaning. Anything not
// listed here and not handled is reported as an error, so a new kind of
// resource is never silently dropped.
var ignored = map[string]bool{
	"AWS::CDK::Metadata":                    true,
	"AWS::IAM::Role":                        true,
	"AWS::IAM::Policy":                      true,
	"AWS::IAM::ManagedPolicy":               true,
	"AWS::Logs::LogGroup":                   true,
	"AWS::Logs::MetricFilter":               true,
	"AWS::Logs::SubscriptionFilter":         true,
	"AWS::CloudWatch::Alarm":                true,
	"AWS::CloudWatch::CompositeAlarm":       true,
	"AWS::CloudWatch::Dashboard":            true,
	"AWS::SNS::Topic":                       true,
	"AWS::SNS::Subscription":                true,
	"AWS::SNS::TopicPolicy":                 true,
	"AWS::Cognito::UserPool":                true,
	"AWS::Cognito::UserPoolClient":          true,
	"AWS::Cognito::UserPoolDomain":          true,
	"AWS::Cognito::UserPoolGroup":           true,
	"AWS::Cognito::UserPoolUser":            true,
	"AWS::Lambda::Permission":               true,
	"AWS::Lambda::Version":                  true,
	"AWS::Lambda::Alias":                    true,
	"AWS::Lambda::EventInvokeConfig":        true,
	"AWS::ApiGatewayV2::Deployment":         true,
	"AWS::ApiGatewayV2::ApiMapping":         true,
	"AWS::ApiGatewayV2::DomainName":         true,
	"AWS::ApiGateway::Account":              true,
	"AWS::KMS::Key":                         true,
	"AWS::KMS::Alias":                       true,
	"AWS::SQS::Queue":                       true,
	"AWS::SQS::QueuePolicy":                 true,
	"AWS::Budgets::Budget":                  true,
	"AWS::ResourceGroups::Group":            true,
	"AWS::ApplicationInsights::Application": true,
	"AWS::WAFv2::WebACLAssociation":         true,
	"AWS::WAFv2::WebACL":                    true,
	"AWS::Route53::RecordSet":               true,
	"AWS::CertificateManager::Certificate":  true,
	"AWS::S3::Bucket":                       true,
	"AWS::S3::BucketPolicy":                 true,
	"Custom::LogRetention":                  true,
}

// unsupported lists resource types that change what the stack does at run
// time and that the emulator cannot reproduce.
var unsupported = map[string]string{
	"AWS::Lambda::EventSourceMapping":  "event source mappings (queue or stream triggers) are not emulated",
	"AWS::Lambda::LayerVersion":        "Lambda layers are not emulated",
	"AWS::ApiGateway::RestApi":         "REST APIs are not emulated; only a WebSocket API",
	"AWS::ApiGatewayV2::VpcLink":       "VPC links are not emulated",
	"AWS::Serverless::Function":        "SAM resources are not emulated; synthesize plain CloudFormation",
	"AWS::StepFunctions::StateMachine": "state machines are not emulated",
	"AWS::Events::Rule":                "EventBridge rules (schedules) are not emulated",
}

// Load reads and parses the template at path.
func Load(path string, opts Options) (*Stack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data, filepath.Dir(abs), opts)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	s.Path = abs
	return s, nil
}

// Parse parses template JSON; dir is the cloud assembly directory that asset
// paths are relative to.
func Parse(data []byte, dir string, opts Options) (*Stack, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "000000000000"
	}
	if opts.Endpoint == "" {
		opts.Endpoint = "127.0.0.1:3001"
	}
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse JSON: %w", err)
	}
	if len(doc.Transform) > 0 && string(doc.Transform) != "null" {
		return nil, &Error{Resource: "Transform", Problem: "template transforms (SAM, macros) are not supported; synthesize plain CloudFormation"}
	}
	p := &parser{doc: &doc, dir: dir, opts: opts, stack: &Stack{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.stack, nil
}

type parser struct {
	doc   *document
	dir   string
	opts  Options
	stack *Stack

	apiID     string
	stageName string
	functions map[string]*Function // by logical id
	tables    map[string]*Table
}

func (p *parser) ids(types ...string) []string {
	var out []string
	for id, r := range p.doc.Resources {
		for _, t := range types {
			if r.Type == t {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (p *parser) parse() error {
	for _, id := range slices.Sorted(maps.Keys(p.doc.Resources)) {
		r := p.doc.Resources[id]
		if r == nil {
			return &Error{Resource: id, Problem: "empty resource"}
		}
		switch r.Type {
		case "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration",
			"AWS::ApiGatewayV2::Authorizer", "AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::RouteResponse",
			"AWS::ApiGatewayV2::IntegrationResponse", "AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable":
			if r.Condition != "" {
				return &Error{Resource: id, Type: r.Type, Property: "Condition", Problem: "conditional resources are not supported locally"}
			}
		default:
			if problem, ok := unsupported[r.Type]; ok {
				return &Error{Resource: id, Type: r.Type, Problem: problem}
			}
			if !ignored[r.Type] {
				// Probably harmless; if a function depends on it, resolving
				// that function's environment fails with a precise error.
				p.stack.Warnings = append(p.stack.Warnings, fmt.Sprintf("%s (%s) is ignored: the emulator does not know this resource type", id, r.Type))
			}
		}
	}
	if err := p.parseAPI(); err != nil {
		return err
	}
	if err := p.parseTables(); err != nil {
		return err
	}
	if err := p.parseFunctions(); err != nil {
		return err
	}
	return p.parseRoutes()
}

func (p *parser) parseAPI() error {
	apis := p.ids("AWS::ApiGatewayV2::Api")
	var ws []string
	for _, id := range apis {
		var proto string
		_ = json.Unmarshal(p.doc.Resources[id].Properties["ProtocolType"], &proto)
		if proto != "WEBSOCKET" {
			return &Error{Resource: id, Type: "AWS::ApiGatewayV2::Api", Property: "ProtocolType", Problem: fmt.Sprintf("%q APIs are not emulated; only WEBSOCKET", proto)}
		}
		ws = append(ws, id)
	}
	switch len(ws) {
	case 0:
		return &Error{Resource: "Resources", Problem: "no AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET"}
	case 1:
	default:
		return &Error{Resource: strings.Join(ws, ", "), Problem: "more than one WebSocket API; the emulator serves one"}
	}
	id := ws[0]
	props := p.doc.Resources[id].Properties
	api := API{LogicalID: id, ID: localID(id)}
	_ = json.Unmarshal(props["Name"], &api.Name)
	if err := json.Unmarshal(props["RouteSelectionExpression"], &api.RouteSelectionExpression); err != nil || api.RouteSelectionExpression == "" {
		return &Error{Resource: id, Type: "AWS::ApiGatewayV2::Api", Property: "RouteSelectionExpression", Problem: "missing or not a string"}
	}
	if _, ok := props["Body"]; ok {
		return &Error{Resource: id, Type: "AWS::ApiGatewayV2::Api", Property: "Body", Problem: "APIs imported from a definition are not supported"}
	}
	p.stack.API = api
	p.apiID = api.ID

	stages := p.ids("AWS::ApiGatewayV2::Stage")
	var mine []string
	for _, sid := range stages {
		if p.refersTo(p.doc.Resources[sid].Properties["ApiId"], id) {
			mine = append(mine, sid)
		}
	}
	if len(mine) != 1 {
		return &Error{Resource: id, Type: "AWS::ApiGatewayV2::Api", Problem: fmt.Sprintf("want exactly one AWS::ApiGatewayV2::Stage, found %d", len(mine))}
	}
	var name string
	if err := json.Unmarshal(p.doc.Resources[mine[0]].Properties["StageName"], &name); err != nil || name == "" {
		return &Error{Resource: mine[0], Type: "AWS::ApiGatewayV2::Stage", Property: "StageName", Problem: "missing or not a literal string"}
	}
	if strings.ContainsAny(name, "/ ") || strings.HasPrefix(name, "@") {
		return &Error{Resource: mine[0], Type: "AWS::ApiGatewayV2::Stage", Property: "StageName", Problem: fmt.Sprintf("%q is not a usable path segment", name)}
	}
	p.stageName = name
	p.stack.Stage = name
	return nil
}

func (p *parser) parseTables() error {
	p.tables = map[string]*Table{}
	for _, id := range p.ids("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable") {
		r := p.doc.Resources[id]
		props := r.Properties
		t := &Table{LogicalID: id, Name: id}
		if raw, ok := props["TableName"]; ok {
			if err := json.Unmarshal(raw, &t.Name); err != nil {
				return &Error{Resource: id, Type: r.Type, Property: "TableName", Problem: "must be a literal string locally"}
			}
		}
		if err := json.Unmarshal(props["KeySchema"], &t.KeySchema); err != nil || len(t.KeySchema) == 0 {
			return &Error{Resource: id, Type: r.Type, Property: "KeySchema", Problem: "missing or malformed"}
		}
		if err := json.Unmarshal(props["AttributeDefinitions"], &t.Attributes); err != nil || len(t.Attributes) == 0 {
			return &Error{Resource: id, Type: r.Type, Property: "AttributeDefinitions", Problem: "missing or malformed"}
		}
		for _, pair := range []struct {
			prop string
			dst  *[]Index
		}{{"GlobalSecondaryIndexes", &t.GlobalIndex}, {"LocalSecondaryIndexes", &t.LocalIndex}} {
			raw, ok := props[pair.prop]
			if !ok {
				continue
			}
			var idx []struct {
				IndexName  string
				KeySchema  []KeyElement
				Projection struct {
					ProjectionType   string
					NonKeyAttributes []string
				}
			}
			if err := json.Unmarshal(raw, &idx); err != nil {
				return &Error{Resource: id, Type: r.Type, Property: pair.prop, Problem: "malformed: " + err.Error()}
			}
			for _, i := range idx {
				*pair.dst = append(*pair.dst, Index{IndexName: i.IndexName, KeySchema: i.KeySchema, ProjectionType: i.Projection.ProjectionType, NonKeyAttributes: i.Projection.NonKeyAttributes})
			}
		}
		if raw, ok := props["TimeToLiveSpecification"]; ok {
			var ttl struct {
				AttributeName string
				Enabled       *bool
			}
			if err := json.Unmarshal(raw, &ttl); err != nil {
				return &Error{Resource: id, Type: r.Type, Property: "TimeToLiveSpecification", Problem: "malformed"}
			}
			if ttl.Enabled == nil || *ttl.Enabled {
				t.TTLAttribute = ttl.AttributeName
			}
		}
		if raw, ok := props["StreamSpecification"]; ok {
			var s struct{ StreamViewType string }
			_ = json.Unmarshal(raw, &s)
			t.StreamView = s.StreamViewType
		}
		p.tables[id] = t
		p.stack.Tables = append(p.stack.Tables, t)
	}
	return nil
}

func (p *parser) parseFunctions() error {
	p.functions = map[string]*Function{}
	// Names first: environment variables may refer to other functions.
	for _, id := range p.ids("AWS::Lambda::Function") {
		r := p.doc.Resources[id]
		f := &Function{LogicalID: id, Name: id, Env: map[string]string{}, EnvErrors: map[string]error{}}
		if raw, ok := r.Properties["FunctionName"]; ok {
			if err := json.Unmarshal(raw, &f.Name); err != nil {
				return &Error{Resource: id, Type: r.Type, Property: "FunctionName", Problem: "must be a literal string locally"}
			}
		}
		f.ARN = "arn:aws:lambda:" + p.opts.Region + ":" + p.opts.AccountID + ":function:" + f.Name
		p.functions[id] = f
	}
	for _, id := range p.ids("AWS::Lambda::Function") {
		r := p.doc.Resources[id]
		f := p.functions[id]
		props := r.Properties
		f.Timeout = 3 * time.Second
		if raw, ok := props["Timeout"]; ok {
			n, err := number(raw)
			if err != nil || n <= 0 {
				return &Error{Resource: id, Type: r.Type, Property: "Timeout", Problem: "must be a positive number of seconds"}
			}
			f.Timeout = time.Duration(n) * time.Second
		}
		f.MemoryMB = 128
		if raw, ok := props["MemorySize"]; ok {
			n, err := number(raw)
			if err != nil || n <= 0 {
				return &Error{Resource: id, Type: r.Type, Property: "MemorySize", Problem: "must be a positive number"}
			}
			f.MemoryMB = n
		}
		if raw, ok := props["ReservedConcurrentExecutions"]; ok {
			n, err := number(raw)
			if err != nil || n < 0 {
				return &Error{Resource: id, Type: r.Type, Property: "ReservedConcurrentExecutions", Problem: "must be a number"}
			}
			if n == 0 {
				return &Error{Resource: id, Type: r.Type, Property: "ReservedConcurrentExecutions", Problem: "0 disables the function; every invocation would be throttled"}
			}
			f.ReservedConcurrency = n
		}
		_ = json.Unmarshal(props["Runtime"], &f.Runtime)
		_ = json.Unmarshal(props["Handler"], &f.Handler)
		_ = json.Unmarshal(props["Architectures"], &f.Architectures)
		if f.Runtime != "" && !strings.HasPrefix(f.Runtime, "provided") {
			return &Error{Resource: id, Type: r.Type, Property: "Runtime", Problem: fmt.Sprintf("%q is not emulated; only OS-only runtimes (provided.al2023, provided.al2) that run a bootstrap", f.Runtime)}
		}
		if _, ok := props["Layers"]; ok {
			return &Error{Resource: id, Type: r.Type, Property: "Layers", Problem: "Lambda layers are not emulated"}
		}
		if _, ok := props["ImageUri"]; ok {
			return &Error{Resource: id, Type: r.Type, Property: "ImageUri", Problem: "container image functions are not emulated"}
		}
		var goPkg, asset string
		_ = json.Unmarshal(r.Metadata[MetadataGoPackage], &goPkg)
		_ = json.Unmarshal(r.Metadata[metadataAssetPath], &asset)
		f.GoPackage = goPkg
		if asset != "" {
			if !filepath.IsAbs(asset) {
				asset = filepath.Join(p.dir, asset)
			}
			f.AssetDir = asset
		}
		if f.GoPackage == "" && f.AssetDir == "" {
			return &Error{Resource: id, Type: r.Type, Property: "Metadata", Problem: "neither " + MetadataGoPackage + " nor " + metadataAssetPath + ": nothing to run"}
		}
		f.Label = f.Name
		if goPkg != "" {
			f.Label = filepath.Base(goPkg)
		}
		var env struct {
			Variables map[string]json.RawMessage
		}
		if raw, ok := props["Environment"]; ok {
			if err := json.Unmarshal(raw, &env); err != nil {
				return &Error{Resource: id, Type: r.Type, Property: "Environment", Problem: "malformed: " + err.Error()}
			}
		}
		for name, raw := range env.Variables {
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return &Error{Resource: id, Type: r.Type, Property: "Environment.Variables." + name, Problem: err.Error()}
			}
			s, err := p.resolve(v)
			if err != nil {
				f.EnvErrors[name] = &Error{Resource: id, Type: r.Type, Property: "Environment.Variables." + name, Problem: err.Error()}
				continue
			}
			f.Env[name] = p.localizeURL(s)
		}
		p.stack.Functions = append(p.stack.Functions, f)
	}
	return nil
}

func (p *parser) parseRoutes() error {
	apiID := p.stack.API.LogicalID
	integrations := map[string]*Function{}
	for _, id := range p.ids("AWS::ApiGatewayV2::Integration") {
		r := p.doc.Resources[id]
		if !p.refersTo(r.Properties["ApiId"], apiID) {
			continue
		}
		var typ string
		_ = json.Unmarshal(r.Properties["IntegrationType"], &typ)
		if typ != "AWS_PROXY" {
			return &Error{Resource: id, Type: r.Type, Property: "IntegrationType", Problem: fmt.Sprintf("%q is not emulated; only AWS_PROXY (Lambda proxy) integrations", typ)}
		}
		fn, err := p.lambdaURI(r.Properties["IntegrationUri"])
		if err != nil {
			return &Error{Resource: id, Type: r.Type, Property: "IntegrationUri", Problem: err.Error()}
		}
		integrations[id] = fn
	}
	authorizers := map[string]*Authorizer{}
	for _, id := range p.ids("AWS::ApiGatewayV2::Authorizer") {
		r := p.doc.Resources[id]
		if !p.refersTo(r.Properties["ApiId"], apiID) {
			continue
		}
		var typ string
		_ = json.Unmarshal(r.Properties["AuthorizerType"], &typ)
		if typ != "REQUEST" {
			return &Error{Resource: id, Type: r.Type, Property: "AuthorizerType", Problem: fmt.Sprintf("%q is not emulated; WebSocket APIs use REQUEST authorizers", typ)}
		}
		fn, err := p.lambdaURI(r.Properties["AuthorizerUri"])
		if err != nil {
			return &Error{Resource: id, Type: r.Type, Property: "AuthorizerUri", Problem: err.Error()}
		}
		a := &Authorizer{LogicalID: id, Name: id, Function: fn}
		_ = json.Unmarshal(r.Properties["Name"], &a.Name)
		if raw, ok := r.Properties["IdentitySource"]; ok {
			if err := json.Unmarshal(raw, &a.IdentitySources); err != nil {
				var one string
				if json.Unmarshal(raw, &one) != nil {
					return &Error{Resource: id, Type: r.Type, Property: "IdentitySource", Problem: "want a list of strings"}
				}
				for _, s := range strings.Split(one, ",") {
					a.IdentitySources = append(a.IdentitySources, strings.TrimSpace(s))
				}
			}
		}
		authorizers[id] = a
	}
	twoWay := map[string]bool{}
	for _, id := range p.ids("AWS::ApiGatewayV2::RouteResponse") {
		r := p.doc.Resources[id]
		var key string
		_ = json.Unmarshal(r.Properties["RouteResponseKey"], &key)
		if key != "$default" {
			continue
		}
		if routeID, ok := refOf(r.Properties["RouteId"]); ok {
			twoWay[routeID] = true
		}
	}
	seen := map[string]string{}
	for _, id := range p.ids("AWS::ApiGatewayV2::Route") {
		r := p.doc.Resources[id]
		if !p.refersTo(r.Properties["ApiId"], apiID) {
			continue
		}
		route := &Route{LogicalID: id, TwoWay: twoWay[id]}
		if err := json.Unmarshal(r.Properties["RouteKey"], &route.Key); err != nil || route.Key == "" {
			return &Error{Resource: id, Type: r.Type, Property: "RouteKey", Problem: "missing or not a literal string"}
		}
		if other, dup := seen[route.Key]; dup {
			return &Error{Resource: id, Type: r.Type, Property: "RouteKey", Problem: fmt.Sprintf("%q is also the key of %s", route.Key, other)}
		}
		seen[route.Key] = id
		if raw, ok := r.Properties["Target"]; ok {
			var v any
			_ = json.Unmarshal(raw, &v)
			target, err := p.resolve(v)
			if err != nil {
				return &Error{Resource: id, Type: r.Type, Property: "Target", Problem: err.Error()}
			}
			integ, ok := strings.CutPrefix(target, "integrations/")
			fn, found := integrations[integ]
			if !ok || !found {
				return &Error{Resource: id, Type: r.Type, Property: "Target", Problem: fmt.Sprintf("%q is not integrations/<an integration of this API>", target)}
			}
			route.Function = fn
		}
		var authType string
		_ = json.Unmarshal(r.Properties["AuthorizationType"], &authType)
		switch authType {
		case "", "NONE":
		case "CUSTOM":
			if route.Key != "$connect" {
				return &Error{Resource: id, Type: r.Type, Property: "AuthorizationType", Problem: "WebSocket APIs allow an authorizer only on $connect"}
			}
			authID, ok := refOf(r.Properties["AuthorizerId"])
			a, found := authorizers[authID]
			if !ok || !found {
				return &Error{Resource: id, Type: r.Type, Property: "AuthorizerId", Problem: "must be a Ref to an AWS::ApiGatewayV2::Authorizer of this API"}
			}
			route.Authorizer = a
		default:
			return &Error{Resource: id, Type: r.Type, Property: "AuthorizationType", Problem: fmt.Sprintf("%q is not emulated; only NONE and CUSTOM", authType)}
		}
		p.stack.Routes = append(p.stack.Routes, route)
	}
	sort.Slice(p.stack.Routes, func(i, j int) bool { return p.stack.Routes[i].Key < p.stack.Routes[j].Key })
	if len(p.stack.Routes) == 0 {
		return &Error{Resource: apiID, Type: "AWS::ApiGatewayV2::Api", Problem: "the API has no routes"}
	}
	return nil
}

// lambdaURI finds the function an integration or authorizer URI invokes:
// arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{function ARN}/invocations.
func (p *parser) lambdaURI(raw json.RawMessage) (*Function, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil || v == nil {
		return nil, errors.New("missing")
	}
	uri, err := p.resolve(v)
	if err != nil {
		return nil, err
	}
	const marker = ":lambda:path/2015-03-31/functions/"
	i := strings.Index(uri, marker)
	if !strings.HasPrefix(uri, "arn:") || i < 0 || !strings.HasSuffix(uri, "/invocations") {
		return nil, fmt.Errorf("%q is not a Lambda function invocation URI; only Lambda integrations are emulated", uri)
	}
	fnARN := strings.TrimSuffix(uri[i+len(marker):], "/invocations")
	_, name, ok := strings.Cut(fnARN, ":function:")
	if !ok {
		return nil, fmt.Errorf("%q does not name a function", fnARN)
	}
	name, _, _ = strings.Cut(name, ":") // drop a version or alias qualifier
	for _, f := range p.functions {
		if f.Name == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("function %q is not defined in this template", name)
}

// refersTo reports whether raw is {"Ref": id}.
func (p *parser) refersTo(raw json.RawMessage, id string) bool {
	ref, ok := refOf(raw)
	return ok && ref == id
}

func refOf(raw json.RawMessage) (string, bool) {
	var r struct{ Ref string }
	if json.Unmarshal(raw, &r) != nil || r.Ref == "" {
		return "", false
	}
	return r.Ref, true
}

func number(raw json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, err
		}
		n = json.Number(s)
	}
	i, err := strconv.Atoi(n.String())
	return i, err
}

// localID is a stable 10-character lowercase id, the shape of an API id.
func localID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 10)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b)
}
