// Command fn is a test-only Lambda function for the emulator's tests. What it
// does depends on the payload: it echoes, sleeps past its timeout, crashes,
// returns an error, or reports its environment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// request is either a test command (fields below) or, when it has a
// requestContext, an API Gateway event, whose body holds the command.
type request struct {
	Sleep string `json:"sleep"`
	Crash bool   `json:"crash"`
	Error string `json:"error"`
	Env   string `json:"env"`
	Print string `json:"print"`

	Body           string          `json:"body"`
	RequestContext json.RawMessage `json:"requestContext"`
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, err
	}
	if req.RequestContext != nil && req.Body != "" {
		// An API Gateway event: the command is in the body.
		_ = json.Unmarshal([]byte(req.Body), &req)
	}
	if req.Print != "" {
		fmt.Println(req.Print)
	}
	if req.Sleep != "" {
		d, err := time.ParseDuration(req.Sleep)
		if err != nil {
			return nil, err
		}
		time.Sleep(d)
	}
	if req.Crash {
		fmt.Fprintln(os.Stderr, "crashing on purpose")
		os.Exit(3)
	}
	if req.Error != "" {
		return nil, errors.New(req.Error)
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	out := map[string]any{
		"statusCode": 200,
		"requestId":  lc.AwsRequestID,
		"arn":        lc.InvokedFunctionArn,
		"deadlineMs": deadline.UnixMilli(),
		"pid":        os.Getpid(),
		"event":      raw,
	}
	if req.Env != "" {
		env := map[string]string{}
		for _, name := range strings.Split(req.Env, ",") {
			env[name] = os.Getenv(name)
		}
		out["env"] = env
	}
	if req.RequestContext != nil {
		// For a two-way route, API Gateway sends the body back to the client.
		summary, _ := json.Marshal(map[string]any{"env": out["env"], "requestId": out["requestId"]})
		out["body"] = string(summary)
	}
	return out, nil
}

func main() {
	// FN_INIT_FAIL makes the init fail the way a real handler's does when its
	// configuration is wrong: a message on stderr, then a non-zero exit.
	if msg := os.Getenv("FN_INIT_FAIL"); msg != "" {
		fmt.Fprintln(os.Stderr, "config error:", msg)
		os.Exit(1)
	}
	lambda.Start(handle)
}
