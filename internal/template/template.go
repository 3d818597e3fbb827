// Package template reads a synthesized CloudFormation template and extracts
// what the local emulator runs: the WebSocket API, its stage, routes,
// integrations and authorizer, the Lambda functions with their resolved
// environment, the DynamoDB tables, and the SQS queues with the event source
// mappings that read them.
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
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// metadataAssetPath is where CDK records a function's asset directory in cdk.out.
const metadataAssetPath = "aws:asset:path"

// Options are the local values intrinsics resolve to.
type Options struct {
	Region    string // AWS::Region; "us-east-1" when empty
	AccountID string // AWS::AccountId; "000000000000" when empty
	// Endpoint is host:port of the emulator, e.g. "127.0.0.1:3001".
	Endpoint string
	// SQSEndpoint is host:port of the emulator's SQS server, which queue
	// URLs (a queue's Ref) start with; "" leaves them unresolved.
	SQSEndpoint string
	// GoPackageKey is the function metadata key that names a function's Go
	// source package (the project's contract.MetadataGoPackage). The caller
	// passes it so that this package imports nothing from the project and
	// the key is defined once; "" reads no Go package, only assets.
	GoPackageKey string
}

// Stack is the part of a template the emulator runs.
type Stack struct {
	Path  string
	API   API
	Stage string
	// Throttle is the stage's DefaultRouteSettings and RouteSettings throttling.
	Throttle  StageThrottle
	Routes    []*Route // sorted by key
	Functions []*Function
	Tables    []*Table
	// Queues are the template's SQS queues, each after its dead-letter queue.
	Queues []*Queue
	// Mappings are the event source mappings from those queues.
	Mappings []*EventSourceMapping
	// Schedules are the template's EventBridge schedules (rate rules).
	Schedules []*Schedule
	// HTTPAPIs are the template's HTTP APIs (protocol HTTP), served beside
	// the WebSocket API.
	HTTPAPIs []*HTTPAPI
	// EventBuses are the default bus and the template's buses; Rules their
	// rules; Secrets the template's secrets.
	EventBuses []*EventBus
	Rules      []*Rule
	Secrets    []*Secret
	// StreamMappings are the event source mappings from tables' streams.
	StreamMappings []*StreamMapping
	// Warnings name resources of types the emulator does not know and ignores.
	Warnings []string
}

// StageThrottle is a stage's route throttling targets.
type StageThrottle struct {
	Default *RouteThrottle           // DefaultRouteSettings; nil when it sets neither limit
	Routes  map[string]RouteThrottle // RouteSettings by route key
}

// RouteThrottle is ThrottlingRateLimit and ThrottlingBurstLimit; one left
// unset takes the account-level default (10,000 per second, burst 5,000).
type RouteThrottle struct {
	Rate  float64
	Burst int
}

type routeSettings struct {
	ThrottlingRateLimit  *float64
	ThrottlingBurstLimit *int
}

func (r routeSettings) throttle() *RouteThrottle {
	if r.ThrottlingRateLimit == nil && r.ThrottlingBurstLimit == nil {
		return nil
	}
	t := RouteThrottle{Rate: 10000, Burst: 5000}
	if r.ThrottlingRateLimit != nil {
		t.Rate = *r.ThrottlingRateLimit
	}
	if r.ThrottlingBurstLimit != nil {
		t.Burst = *r.ThrottlingBurstLimit
	}
	return &t
}

// parseStageThrottle reads the stage's throttling; values that are not
// literal numbers are an error rather than silently unthrottled.
func parseStageThrottle(id string, props map[string]json.RawMessage) (StageThrottle, error) {
	var st StageThrottle
	if raw, ok := props["DefaultRouteSettings"]; ok {
		var d routeSettings
		if err := json.Unmarshal(raw, &d); err != nil {
			return st, &Error{Resource: id, Type: "AWS::ApiGatewayV2::Stage", Property: "DefaultRouteSettings", Problem: "throttling limits must be literal numbers"}
		}
		st.Default = d.throttle()
	}
	if raw, ok := props["RouteSettings"]; ok {
		var byKey map[string]routeSettings
		if err := json.Unmarshal(raw, &byKey); err != nil {
			return st, &Error{Resource: id, Type: "AWS::ApiGatewayV2::Stage", Property: "RouteSettings", Problem: "want an object of route keys with literal throttling limits"}
		}
		for k, r := range byKey {
			if t := r.throttle(); t != nil {
				if st.Routes == nil {
					st.Routes = map[string]RouteThrottle{}
				}
				st.Routes[k] = *t
			}
		}
	}
	return st, nil
}

// API is the AWS::ApiGatewayV2::Api of protocol WEBSOCKET.
type API struct {
	LogicalID                string
	ID                       string // local api id
	RouteSelectionExpression string
}

// Route is an AWS::ApiGatewayV2::Route with its integration resolved.
type Route struct {
	Key        string
	Function   *Function   // nil: no Lambda integration
	Mock       *Mock       // set for a MOCK integration (Function is then nil)
	Authorizer *Authorizer // nil: AuthorizationType NONE
	TwoWay     bool        // a RouteResponse $default is configured
}

// Authorizer is an AWS::ApiGatewayV2::Authorizer of type REQUEST.
type Authorizer struct {
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
	// StreamViewType is StreamSpecification's ("" when the table has no
	// stream); StreamARN what GetAtt StreamArn gives.
	StreamViewType string
	StreamARN      string
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
	"AWS::Events::EventBusPolicy":           true,
	"AWS::Events::Archive":                  true,
	"AWS::SecretsManager::RotationSchedule": true,
	"AWS::SecretsManager::ResourcePolicy":   true,
}

// unsupported lists resource types that change what the stack does at run
// time and that the emulator cannot reproduce.
var unsupported = map[string]string{
	"AWS::Lambda::LayerVersion":        "Lambda layers are not emulated",
	"AWS::ApiGateway::RestApi":         "REST APIs are not emulated; only a WebSocket API",
	"AWS::ApiGatewayV2::VpcLink":       "VPC links are not emulated",
	"AWS::Serverless::Function":        "SAM resources are not emulated; synthesize plain CloudFormation",
	"AWS::StepFunctions::StateMachine": "state machines are not emulated",
	"AWS::Events::ApiDestination":      "API destinations are not emulated; deliver webhooks through a function (the stack's webhooks function signs them)",
	"AWS::Events::Connection":          "EventBridge connections are not emulated (see AWS::Events::ApiDestination)",
	"AWS::Pipes::Pipe":                 "EventBridge Pipes are not emulated",
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
	queues    map[string]*Queue
	buses     map[string]*EventBus
	rules     map[string]*Rule
	secrets   map[string]*Secret
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
			"AWS::ApiGatewayV2::IntegrationResponse", "AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable",
			"AWS::SQS::Queue", "AWS::Lambda::EventSourceMapping", "AWS::Events::EventBus", "AWS::Events::Rule", "AWS::SecretsManager::Secret":
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
	// Buses and secrets before functions, whose environment may name them;
	// rules and schedules after functions and queues, their targets.
	for _, step := range []func() error{p.parseTables, p.parseQueues, p.parseEventBuses, p.parseSecrets, p.parseRuleNames, p.parseFunctions,
		p.parseRoutes, p.parseHTTPAPIs, p.parseMappings, p.parseRules, p.parseSchedules} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// apiIDs returns the sorted logical ids of resources of typ that belong to
// the WebSocket API (ApiId is a Ref to it).
func (p *parser) apiIDs(typ string) []string {
	var out []string
	for _, id := range p.ids(typ) {
		if p.refersTo(p.doc.Resources[id].Properties["ApiId"], p.stack.API.LogicalID) {
			out = append(out, id)
		}
	}
	return out
}

func (p *parser) parseAPI() error {
	id, err := p.webSocketAPI()
	if err != nil {
		return err
	}
	f := p.props(id)
	api := API{LogicalID: id, ID: localID(id)}
	if api.RouteSelectionExpression, err = f.str("RouteSelectionExpression"); err != nil {
		return err
	}
	if api.RouteSelectionExpression == "" {
		return f.fail("RouteSelectionExpression", "missing")
	}
	if _, ok := f.raw("Body"); ok {
		return f.fail("Body", "APIs imported from a definition are not supported")
	}
	p.stack.API = api
	p.apiID = api.ID
	return p.parseStage(id)
}

// webSocketAPI returns the logical id of the template's one WebSocket API.
func (p *parser) webSocketAPI() (string, error) {
	var ws []string
	for _, id := range p.ids("AWS::ApiGatewayV2::Api") {
		f := p.props(id)
		proto, err := f.str("ProtocolType")
		if err != nil {
			return "", err
		}
		if proto == "HTTP" {
			continue // parseHTTPAPIs
		}
		if proto != "WEBSOCKET" {
			return "", f.fail("ProtocolType", fmt.Sprintf("%q APIs are not emulated; only WEBSOCKET and HTTP", proto))
		}
		ws = append(ws, id)
	}
	switch len(ws) {
	case 0:
		return "", &Error{Resource: "Resources", Problem: "no AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET"}
	case 1:
		return ws[0], nil
	default:
		return "", &Error{Resource: strings.Join(ws, ", "), Problem: "more than one WebSocket API; the emulator serves one"}
	}
}

// parseStage finds the API's one stage; its name is the first path segment.
func (p *parser) parseStage(apiID string) error {
	var mine []string
	for _, sid := range p.ids("AWS::ApiGatewayV2::Stage") {
		if p.refersTo(p.doc.Resources[sid].Properties["ApiId"], apiID) {
			mine = append(mine, sid)
		}
	}
	if len(mine) != 1 {
		return &Error{Resource: apiID, Type: "AWS::ApiGatewayV2::Api", Problem: fmt.Sprintf("want exactly one AWS::ApiGatewayV2::Stage, found %d", len(mine))}
	}
	f := p.props(mine[0])
	name, err := f.str("StageName")
	if err != nil {
		return err
	}
	if name == "" {
		return f.fail("StageName", "missing")
	}
	if strings.ContainsAny(name, "/ ") || strings.HasPrefix(name, "@") {
		return f.fail("StageName", fmt.Sprintf("%q is not a usable path segment", name))
	}
	p.stageName = name
	p.stack.Stage = name
	throttle, err := parseStageThrottle(mine[0], p.doc.Resources[mine[0]].Properties)
	p.stack.Throttle = throttle
	return err
}

func (p *parser) parseTables() error {
	p.tables = map[string]*Table{}
	for _, id := range p.ids("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable") {
		t, err := p.parseTable(id)
		if err != nil {
			return err
		}
		p.tables[id] = t
		p.stack.Tables = append(p.stack.Tables, t)
	}
	return nil
}

func (p *parser) parseTable(id string) (*Table, error) {
	f := p.props(id)
	t := &Table{LogicalID: id, Name: id}
	name, err := f.str("TableName")
	if err != nil {
		return nil, err
	}
	if name != "" {
		t.Name = name
	}
	if err := json.Unmarshal(f.m["KeySchema"], &t.KeySchema); err != nil || len(t.KeySchema) == 0 {
		return nil, f.fail("KeySchema", "missing or malformed")
	}
	if err := json.Unmarshal(f.m["AttributeDefinitions"], &t.Attributes); err != nil || len(t.Attributes) == 0 {
		return nil, f.fail("AttributeDefinitions", "missing or malformed")
	}
	if t.GlobalIndex, err = indexes(f, "GlobalSecondaryIndexes"); err != nil {
		return nil, err
	}
	if t.LocalIndex, err = indexes(f, "LocalSecondaryIndexes"); err != nil {
		return nil, err
	}
	if raw, ok := f.raw("TimeToLiveSpecification"); ok {
		var ttl struct {
			AttributeName string
			Enabled       *bool
		}
		if err := json.Unmarshal(raw, &ttl); err != nil {
			return nil, f.fail("TimeToLiveSpecification", "malformed: "+err.Error())
		}
		if ttl.Enabled == nil || *ttl.Enabled {
			t.TTLAttribute = ttl.AttributeName
		}
	}
	if raw, ok := f.raw("StreamSpecification"); ok {
		var spec struct{ StreamViewType string }
		if err := json.Unmarshal(raw, &spec); err != nil {
			return nil, f.fail("StreamSpecification", "malformed: "+err.Error())
		}
		switch spec.StreamViewType {
		case "KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES":
		default:
			return nil, f.fail("StreamSpecification.StreamViewType", fmt.Sprintf("%q: want KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES", spec.StreamViewType))
		}
		t.StreamViewType = spec.StreamViewType
		t.StreamARN = "arn:aws:dynamodb:" + p.opts.Region + ":" + p.opts.AccountID + ":table/" + t.Name + "/stream/1970-01-01T00:00:00.000"
	}
	return t, nil
}

func indexes(f fields, prop string) ([]Index, error) {
	raw, ok := f.raw(prop)
	if !ok {
		return nil, nil
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
		return nil, f.fail(prop, "malformed: "+err.Error())
	}
	out := make([]Index, 0, len(idx))
	for _, i := range idx {
		out = append(out, Index{IndexName: i.IndexName, KeySchema: i.KeySchema, ProjectionType: i.Projection.ProjectionType, NonKeyAttributes: i.Projection.NonKeyAttributes})
	}
	return out, nil
}

func (p *parser) parseFunctions() error {
	p.functions = map[string]*Function{}
	// Names first: environment variables may refer to other functions.
	for _, id := range p.ids("AWS::Lambda::Function") {
		f := &Function{LogicalID: id, Name: id, Env: map[string]string{}, EnvErrors: map[string]error{}}
		name, err := p.props(id).str("FunctionName")
		if err != nil {
			return err
		}
		if name != "" {
			f.Name = name
		}
		f.ARN = "arn:aws:lambda:" + p.opts.Region + ":" + p.opts.AccountID + ":function:" + f.Name
		p.functions[id] = f
	}
	for _, id := range p.ids("AWS::Lambda::Function") {
		f := p.functions[id]
		for _, step := range []func(string, *Function) error{p.functionSettings, p.functionSource, p.functionEnv} {
			if err := step(id, f); err != nil {
				return err
			}
		}
		p.stack.Functions = append(p.stack.Functions, f)
	}
	return nil
}

// functionSettings reads what the emulator enforces (timeout, memory,
// concurrency) and rejects what it cannot run.
func (p *parser) functionSettings(id string, f *Function) error {
	props := p.props(id)
	f.Timeout, f.MemoryMB = 3*time.Second, 128
	if n, ok, err := props.number("Timeout"); err != nil {
		return err
	} else if ok && n <= 0 {
		return props.fail("Timeout", "must be a positive number of seconds")
	} else if ok {
		f.Timeout = time.Duration(n) * time.Second
	}
	if n, ok, err := props.number("MemorySize"); err != nil {
		return err
	} else if ok && n <= 0 {
		return props.fail("MemorySize", "must be a positive number")
	} else if ok {
		f.MemoryMB = n
	}
	if n, ok, err := props.number("ReservedConcurrentExecutions"); err != nil {
		return err
	} else if ok && n < 0 {
		return props.fail("ReservedConcurrentExecutions", "must not be negative")
	} else if ok && n == 0 {
		return props.fail("ReservedConcurrentExecutions", "0 disables the function; every invocation would be throttled")
	} else if ok {
		f.ReservedConcurrency = n
	}
	runtime, err := props.str("Runtime")
	if err != nil {
		return err
	}
	if runtime != "" && !strings.HasPrefix(runtime, "provided") {
		return props.fail("Runtime", fmt.Sprintf("%q is not emulated; only OS-only runtimes (provided.al2023, provided.al2) that run a bootstrap", runtime))
	}
	if _, ok := props.raw("Layers"); ok {
		return props.fail("Layers", "Lambda layers are not emulated")
	}
	if _, ok := props.raw("ImageUri"); ok {
		return props.fail("ImageUri", "container image functions are not emulated")
	}
	return nil
}

// functionSource finds what to run: the asset CDK recorded and the Go
// package named under the caller's metadata key.
func (p *parser) functionSource(id string, f *Function) error {
	meta := p.metadata(id)
	var goPkg, asset string
	var err error
	if p.opts.GoPackageKey != "" {
		if goPkg, err = meta.str(p.opts.GoPackageKey); err != nil {
			return err
		}
	}
	if asset, err = meta.str(metadataAssetPath); err != nil {
		return err
	}
	if asset != "" {
		if !filepath.IsAbs(asset) {
			asset = filepath.Join(p.dir, asset)
		}
		f.AssetDir = asset
		if goPkg == "" {
			goPkg = builtFrom(filepath.Join(asset, "bootstrap"))
		}
	}
	f.GoPackage = goPkg
	if f.GoPackage == "" && f.AssetDir == "" {
		keys := metadataAssetPath
		if p.opts.GoPackageKey != "" {
			keys = p.opts.GoPackageKey + " nor " + metadataAssetPath
		}
		return &Error{Resource: id, Type: meta.typ, Property: "Metadata", Problem: "neither " + keys + ": nothing to run"}
	}
	f.Label = f.Name
	if goPkg != "" {
		f.Label = filepath.Base(goPkg)
	}
	return nil
}

// builtFrom is the main package a Go executable was built from, as the Go
// toolchain records it in every binary (whatever its OS and architecture,
// and also with -trimpath and a stripped symbol table): what a Go function
// deployed by any tool can be rebuilt from. "" when path is no Go
// executable.
func builtFrom(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil || info.Path == "command-line-arguments" {
		return ""
	}
	return info.Path
}

// functionEnv resolves the environment variables. One that cannot resolve
// locally is kept in EnvErrors: the emulator may override it.
func (p *parser) functionEnv(id string, f *Function) error {
	props := p.props(id)
	var env struct {
		Variables map[string]json.RawMessage
	}
	if raw, ok := props.raw("Environment"); ok {
		if err := json.Unmarshal(raw, &env); err != nil {
			return props.fail("Environment", "malformed: "+err.Error())
		}
	}
	for name, raw := range env.Variables {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return props.fail("Environment.Variables."+name, err.Error())
		}
		s, err := p.resolve(v)
		if err != nil {
			f.EnvErrors[name] = props.fail("Environment.Variables."+name, err.Error())
			continue
		}
		f.Env[name] = p.localizeURL(s)
	}
	return nil
}

func (p *parser) parseRoutes() error {
	apiID := p.stack.API.LogicalID
	integrations, err := p.parseIntegrations()
	if err != nil {
		return err
	}
	authorizers, err := p.parseAuthorizers()
	if err != nil {
		return err
	}
	twoWay, err := p.twoWayRoutes()
	if err != nil {
		return err
	}
	seen := map[string]string{}
	for _, id := range p.apiIDs("AWS::ApiGatewayV2::Route") {
		route, err := p.parseRoute(id, integrations, authorizers)
		if err != nil {
			return err
		}
		if other, dup := seen[route.Key]; dup {
			return p.props(id).fail("RouteKey", fmt.Sprintf("%q is also the key of %s", route.Key, other))
		}
		seen[route.Key] = id
		route.TwoWay = twoWay[id]
		p.stack.Routes = append(p.stack.Routes, route)
	}
	sort.Slice(p.stack.Routes, func(i, j int) bool { return p.stack.Routes[i].Key < p.stack.Routes[j].Key })
	if len(p.stack.Routes) == 0 {
		return &Error{Resource: apiID, Type: "AWS::ApiGatewayV2::Api", Problem: "the API has no routes"}
	}
	return nil
}

// parseIntegrations returns what serves each integration of the API, by
// logical id: the function of a Lambda proxy integration, or a MOCK
// integration's templates.
func (p *parser) parseIntegrations() (map[string]integration, error) {
	out := map[string]integration{}
	for _, id := range p.apiIDs("AWS::ApiGatewayV2::Integration") {
		if typ, err := p.props(id).str("IntegrationType"); err == nil && typ == "MOCK" {
			m, err := p.parseMock(id)
			if err != nil {
				return nil, err
			}
			out[id] = integration{mock: m}
			continue
		}
		fn, err := p.invokedFunction(p.props(id), "IntegrationType", "AWS_PROXY", "IntegrationUri",
			"only AWS_PROXY (Lambda proxy) and MOCK integrations")
		if err != nil {
			return nil, err
		}
		out[id] = integration{fn: fn}
	}
	return out, nil
}

// invokedFunction checks that the type property is the one type emulated
// (else the problem says what is) and returns the function the URI property
// invokes.
func (p *parser) invokedFunction(f fields, typeProp, want, uriProp, onlyWhat string) (*Function, error) {
	typ, err := f.str(typeProp)
	if err != nil {
		return nil, err
	}
	if typ != want {
		return nil, f.fail(typeProp, fmt.Sprintf("%q is not emulated; %s", typ, onlyWhat))
	}
	fn, err := p.lambdaURI(f.m[uriProp])
	if err != nil {
		return nil, f.fail(uriProp, err.Error())
	}
	return fn, nil
}

// parseAuthorizers returns the API's REQUEST authorizers by logical id.
func (p *parser) parseAuthorizers() (map[string]*Authorizer, error) {
	out := map[string]*Authorizer{}
	for _, id := range p.apiIDs("AWS::ApiGatewayV2::Authorizer") {
		f := p.props(id)
		fn, err := p.invokedFunction(f, "AuthorizerType", "REQUEST", "AuthorizerUri",
			"WebSocket APIs use REQUEST authorizers")
		if err != nil {
			return nil, err
		}
		a := &Authorizer{Name: id, Function: fn}
		if name, err := f.str("Name"); err != nil {
			return nil, err
		} else if name != "" {
			a.Name = name
		}
		if a.IdentitySources, err = identitySources(f); err != nil {
			return nil, err
		}
		out[id] = a
	}
	return out, nil
}

// identitySources takes a list, or the older comma-separated string.
func identitySources(f fields) ([]string, error) {
	raw, ok := f.raw("IdentitySource")
	if !ok {
		return nil, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	one, err := f.str("IdentitySource")
	if err != nil {
		return nil, f.wrongType("IdentitySource", "a list of strings", raw)
	}
	for _, s := range strings.Split(one, ",") {
		list = append(list, strings.TrimSpace(s))
	}
	return list, nil
}

// twoWayRoutes returns the logical ids of routes with a $default route
// response: API Gateway sends their integration's body back to the client.
func (p *parser) twoWayRoutes() (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range p.ids("AWS::ApiGatewayV2::RouteResponse") {
		f := p.props(id)
		key, err := f.str("RouteResponseKey")
		if err != nil {
			return nil, err
		}
		if key != "$default" {
			continue
		}
		if routeID, ok := refOf(f.m["RouteId"]); ok {
			out[routeID] = true
		}
	}
	return out, nil
}

// parseRoute reads one route: its key, its integration and its authorizer.
func (p *parser) parseRoute(id string, integrations map[string]integration, authorizers map[string]*Authorizer) (*Route, error) {
	f := p.props(id)
	key, err := f.str("RouteKey")
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, f.fail("RouteKey", "missing")
	}
	route := &Route{Key: key}
	if v, ok := f.value("Target"); ok {
		target, err := p.resolve(v)
		if err != nil {
			return nil, f.fail("Target", err.Error())
		}
		integ, ok := strings.CutPrefix(target, "integrations/")
		in, found := integrations[integ]
		if !ok || !found {
			return nil, f.fail("Target", fmt.Sprintf("%q is not integrations/<an integration of this API>", target))
		}
		route.Function, route.Mock = in.fn, in.mock
	}
	authType, err := f.str("AuthorizationType")
	if err != nil {
		return nil, err
	}
	switch authType {
	case "", "NONE":
	case "CUSTOM":
		if key != "$connect" {
			return nil, f.fail("AuthorizationType", "WebSocket APIs allow an authorizer only on $connect")
		}
		authID, ok := refOf(f.m["AuthorizerId"])
		a, found := authorizers[authID]
		if !ok || !found {
			return nil, f.fail("AuthorizerId", "must be a Ref to an AWS::ApiGatewayV2::Authorizer of this API")
		}
		route.Authorizer = a
	default:
		return nil, f.fail("AuthorizationType", fmt.Sprintf("%q is not emulated; only NONE and CUSTOM", authType))
	}
	return route, nil
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
