package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/gateway"
)

// readyDoc is the --ready-file document: every endpoint the emulator serves,
// so scripts and harnesses read JSON instead of parsing the banner. Field
// names are part of the emulator's interface (docs/emulator.md).
type readyDoc struct {
	WebSocketURL string `json:"webSocketUrl"`
	CallbackURL  string `json:"callbackUrl"` // the @connections base: POST {callbackUrl}/@connections/{id}
	BaseURL      string `json:"baseUrl"`
	PageURL      string `json:"pageUrl"`
	IssuerURL    string `json:"issuerUrl"`
	JWKSURL      string `json:"jwksUrl"`
	TokenURL     string `json:"tokenUrl"`
	// IssuerSecret is this run's secret, which a tool sends to TokenURL
	// (Authorization: Bearer <secret>); also in IssuerSecretFile.
	IssuerSecret     string `json:"issuerSecret"`
	IssuerSecretFile string `json:"issuerSecretFile"`
	// Region is what SigV4 signatures (@connections, HTTP APIs, the admin
	// endpoint) are scoped to.
	Region   string       `json:"region"`
	DynamoDB string       `json:"dynamoDbEndpoint"` // "" when the template has no tables
	SQS      string       `json:"sqsEndpoint"`      // "" when the template has no queues
	Queues   []readyQueue `json:"queues"`
	// Services is the Lambda Invoke, EventBridge and Secrets Manager
	// endpoint; EventsURL streams every event put on a bus.
	Services  string        `json:"servicesEndpoint"`
	EventsURL string        `json:"eventsUrl"`
	Secrets   []readySecret `json:"secrets"`
	// VirtualConnectionsURL is the admin endpoint of --virtual-connections; "" without it.
	VirtualConnectionsURL string `json:"virtualConnectionsUrl"`
	Stage                 string `json:"stage"`
	Environment           string `json:"environment"`
	Template              string `json:"template"`
	PID                   int    `json:"pid"`
}

// readySecret is one secret of the template (its value: GetSecretValue).
type readySecret struct {
	LogicalID string `json:"logicalId"`
	Name      string `json:"name"`
	ARN       string `json:"arn"`
}

// readyQueue is one queue of the template on the local SQS server.
type readyQueue struct {
	LogicalID string `json:"logicalId"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	ARN       string `json:"arn"`
}

// readyDocument describes the running session.
func (e *session) readyDocument() readyDoc {
	base := "http://" + e.endpoint
	queues := []readyQueue{}
	sqsURL := ""
	if e.sqs != nil {
		sqsURL = e.sqs.url()
		for _, q := range e.stack.Queues {
			queues = append(queues, readyQueue{LogicalID: q.LogicalID, Name: q.Name, URL: q.URL, ARN: q.ARN})
		}
	}
	virtualURL := ""
	if e.cfg.virtualConns {
		virtualURL = base + gateway.VirtualPath
	}
	secrets := []readySecret{}
	for _, sec := range e.stack.Secrets {
		secrets = append(secrets, readySecret{LogicalID: sec.LogicalID, Name: sec.Name, ARN: sec.ARN})
	}
	return readyDoc{
		Services:              e.services.url(),
		EventsURL:             base + eventsTailPath,
		Secrets:               secrets,
		WebSocketURL:          "ws://" + e.endpoint + "/" + e.stack.Stage,
		CallbackURL:           base + "/" + e.stack.Stage,
		BaseURL:               base,
		PageURL:               base + "/",
		IssuerURL:             e.issuer.URL(),
		JWKSURL:               e.issuer.JWKSURL(),
		TokenURL:              base + issuerPath + "/token",
		IssuerSecret:          e.secret,
		IssuerSecretFile:      e.secretFile,
		Region:                e.cfg.region,
		DynamoDB:              e.dynamoEndpoint,
		SQS:                   sqsURL,
		Queues:                queues,
		VirtualConnectionsURL: virtualURL,
		Stage:                 e.stack.Stage,
		Environment:           e.cfg.env,
		Template:              e.cfg.template,
		PID:                   os.Getpid(),
	}
}

// writeReadyFile writes the document atomically (a temporary file in the
// same directory, then rename), so a reader polling for the file never sees
// half of it. It is called only once the listener serves.
func writeReadyFile(path string, doc readyDoc) error {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("--ready-file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	return nil
}

// envOverride is one --function-env FN:KEY=VALUE.
type envOverride struct {
	fn, key, value string
}

// parseEnvOverride checks the syntax of one --function-env value; which
// functions exist is checked once the template is loaded.
func parseEnvOverride(s string) (envOverride, error) {
	fn, kv, ok := strings.Cut(s, ":")
	if !ok || fn == "" {
		return envOverride{}, fmt.Errorf("--function-env %q: want FN:KEY=VALUE (FN: a function's label or logical id)", s)
	}
	key, value, ok := strings.Cut(kv, "=")
	if !ok || key == "" || strings.ContainsAny(key, " \t\n") {
		return envOverride{}, fmt.Errorf("--function-env %q: want FN:KEY=VALUE with a non-empty KEY", s)
	}
	return envOverride{fn: fn, key: key, value: value}, nil
}

// findFunction returns the function whose label or logical id is name, or an
// error that lists the names there are.
func findFunction(fns []*template.Function, name string) (*template.Function, error) {
	var names []string
	for _, f := range fns {
		if f.Label == name || f.LogicalID == name {
			return f, nil
		}
		names = append(names, f.Label+" ("+f.LogicalID+")")
	}
	slices.Sort(names)
	return nil, fmt.Errorf("no function %q in the template; there are: %s", name, strings.Join(names, ", "))
}

// applyEnvOverrides sets each override on its function, after the
// template's values and the local issuer's, so an override always wins.
func applyEnvOverrides(fns []*template.Function, overrides []envOverride) error {
	for _, o := range overrides {
		f, err := findFunction(fns, o.fn)
		if err != nil {
			return fmt.Errorf("--function-env %s:%s: %w", o.fn, o.key, err)
		}
		if f.Env == nil {
			f.Env = map[string]string{}
		}
		f.Env[o.key] = o.value
		delete(f.EnvErrors, o.key)
	}
	return nil
}
