// Package composetest gives the tests of the lambdas/ mains a deployment to
// wire a function against, so that they drive one real event through the
// handler the main builds instead of only checking that it built one: a
// fresh dynalite table (through internal/dynamo/dynamotest, whose Main the
// test binary must run), an @connections endpoint on 127.0.0.1 that records
// what is posted to it, and the environment Lambda and the template give a
// function. It also checks log lines for the keys every function shares.
package composetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
)

// Stage is the API stage of the deployment's callback URL.
const Stage = "dev"

// Post is one frame posted to the @connections endpoint.
type Post struct {
	ConnectionID string
	Frame        map[string]any
}

// Deployment is one function's surroundings.
type Deployment struct {
	// Env is the function's environment; tests may change it before
	// calling Getenv.
	Env map[string]string
	// Store reads and writes the deployment's table directly.
	Store *dynamo.Store

	mu      sync.Mutex
	posts   []Post
	deleted []string
}

// New starts a deployment that lives as long as t.
func New(t *testing.T) *Deployment {
	t.Helper()
	db, table := dynamotest.NewTable(t)
	d := &Deployment{Store: dynamo.New(db, table, dynamo.Options{})}
	srv := httptest.NewServer(http.HandlerFunc(d.serveConnections))
	t.Cleanup(srv.Close)
	d.Env = map[string]string{
		contract.EnvTableName:       table,
		contract.EnvCallbackURL:     srv.URL + "/" + Stage,
		"AWS_ENDPOINT_URL_DYNAMODB": dynamotest.Endpoint(),
		"AWS_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":         "local",
		"AWS_SECRET_ACCESS_KEY":     "local",
	}
	return d
}

// Getenv reads Env; pass it where a main takes getenv.
func (d *Deployment) Getenv(name string) string { return d.Env[name] }

// serveConnections answers POST /<stage>/@connections/{id} with 200 and
// records the frame, and DELETE with 204, recording the id; anything else
// is a 404, so a wrongly wired callback URL shows up as a failed call.
func (d *Deployment) serveConnections(w http.ResponseWriter, r *http.Request) {
	path, err := url.PathUnescape(r.URL.EscapedPath())
	prefix := "/" + Stage + "/@connections/"
	if err != nil || !strings.HasPrefix(path, prefix) || (r.Method != http.MethodPost && r.Method != http.MethodDelete) {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodDelete {
		d.mu.Lock()
		d.deleted = append(d.deleted, strings.TrimPrefix(path, prefix))
		d.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := io.ReadAll(r.Body)
	var frame map[string]any
	if err != nil || json.Unmarshal(body, &frame) != nil {
		http.Error(w, "frame is not JSON", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	d.posts = append(d.posts, Post{ConnectionID: strings.TrimPrefix(path, prefix), Frame: frame})
	d.mu.Unlock()
}

// Posts returns the frames posted so far.
func (d *Deployment) Posts() []Post {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Post(nil), d.posts...)
}

// Deleted returns the connection ids closed (DELETE) so far.
func (d *Deployment) Deleted() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.deleted...)
}

// Context returns t's context as Lambda hands it to a handler, with the
// invocation id awsRequestID.
func Context(t *testing.T, awsRequestID string) context.Context {
	return lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: awsRequestID})
}

// SharedKeys are the keys every line of every function carries.
var SharedKeys = []string{"timestamp", "level", "message", "awsRequestId"}

// CheckLogLines fails t unless out holds at least one JSON log line, and
// every log line carries SharedKeys (awsRequestId equal to awsRequestID) plus the
// extra keys given, and none of the keys that the shared logger replaced
// (time, msg) or that would confuse API Gateway's id with Lambda's
// (requestId). Embedded-metrics records (an "_aws" key), which share stdout
// with the logs, are not log lines and are skipped.
func CheckLogLines(t *testing.T, out []byte, awsRequestID string, extra ...string) {
	t.Helper()
	logLines := 0
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(l, &rec); err != nil {
			t.Errorf("log line %q is not JSON: %v", l, err)
			continue
		}
		if _, ok := rec["_aws"]; ok {
			continue
		}
		logLines++
		for _, k := range append(append([]string(nil), SharedKeys...), extra...) {
			if s, _ := rec[k].(string); s == "" {
				t.Errorf("log line has no %s: %s", k, l)
			}
		}
		if rec["awsRequestId"] != awsRequestID {
			t.Errorf("log line awsRequestId = %v, want %q: %s", rec["awsRequestId"], awsRequestID, l)
		}
		for _, k := range []string{"time", "msg", "requestId"} {
			if _, ok := rec[k]; ok {
				t.Errorf("log line has key %q: %s", k, l)
			}
		}
	}
	if logLines == 0 {
		t.Errorf("no log line written:\n%s", out)
	}
}

// CheckBuildsAndNeedsTable checks a main's newHandler with the environment a
// deployed function has (no table needed: nothing is called): it builds a
// handler, and it refuses to build one without a table name.
func CheckBuildsAndNeedsTable[H any](t *testing.T, newHandler func(getenv func(string) string, stdout io.Writer) (H, error)) {
	t.Helper()
	env := map[string]string{
		contract.EnvTableName:   "wschat-dev",
		contract.EnvCallbackURL: "https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "secret",
	}
	getenv := func(k string) string { return env[k] }
	if _, err := newHandler(getenv, io.Discard); err != nil {
		t.Fatalf("newHandler: %v; want a handler", err)
	}
	delete(env, contract.EnvTableName)
	if _, err := newHandler(getenv, io.Discard); err == nil {
		t.Fatal("newHandler without a table name succeeded")
	}
}
