package lambda

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestInvokeAPIWithTheSDK calls the emulated Invoke API with aws-sdk-go-v2's
// own Lambda client: payloads, function errors (X-Amz-Function-Error), a
// throttle, an unknown function, an Event invocation and a dry run come
// back as the SDK reads them from AWS.
func TestInvokeAPIWithTheSDK(t *testing.T) {
	fn, out := newTestFunction(t, Config{Name: "hook", ARN: "arn:aws:lambda:us-east-1:000000000000:function:hook", MaxInstances: 1, Reserved: true})
	async := make(chan error, 1)
	api := &InvokeAPI{Lookup: func(name string) *Function {
		if name == "hook" || name == "arn:aws:lambda:us-east-1:000000000000:function:hook" {
			return fn
		}
		return nil
	}, OnAsyncError: func(_ string, err error) { async <- err }}
	srv := httptest.NewServer(api)
	defer srv.Close()
	client := awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: 1}) // the SDK would retry a throttle until the slow invocation ends
	ctx := t.Context()

	got, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:hook"), Payload: []byte(`{"print":"hello"}`)})
	if err != nil || got.StatusCode != 200 || got.FunctionError != nil || *got.ExecutedVersion != "$LATEST" {
		t.Fatalf("Invoke: %+v, %v", got, err)
	}
	var resp fnResponse
	if err := json.Unmarshal(got.Payload, &resp); err != nil || resp.ARN != "arn:aws:lambda:us-east-1:000000000000:function:hook" {
		t.Errorf("payload %s: %v", got.Payload, err)
	}

	got, err = client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("hook"), Payload: []byte(`{"error":"no such word"}`)})
	if err != nil || got.FunctionError == nil || *got.FunctionError != "Unhandled" || !strings.Contains(string(got.Payload), "no such word") {
		t.Errorf("function error: %+v (%s), %v", got, got.Payload, err)
	}

	_, err = client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown function: %v, want ResourceNotFoundException", err)
	}

	// Reserved concurrency 1: a second invocation while one runs is throttled.
	slow := make(chan error, 1)
	go func() {
		_, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("hook"), Payload: []byte(`{"sleep":"700ms"}`)})
		slow <- err
	}()
	time.Sleep(300 * time.Millisecond)
	_, err = client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("hook"), Payload: []byte(`{}`)})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) {
		t.Errorf("over reserved concurrency: %v, want TooManyRequestsException", err)
	}
	if err := <-slow; err != nil {
		t.Errorf("the slow invocation: %v", err)
	}

	ev, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("hook"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"error":"async failure"}`)})
	if err != nil || ev.StatusCode != 202 {
		t.Errorf("Event: %+v, %v", ev, err)
	}
	select {
	case err := <-async:
		if err == nil || !strings.Contains(err.Error(), "async failure") {
			t.Errorf("async error %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the Event invocation did not run")
	}
	dry, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("hook"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || dry.StatusCode != 204 {
		t.Errorf("DryRun: %+v, %v", dry, err)
	}
	if !strings.Contains(out.String(), "hello") {
		t.Error("the function's output is missing")
	}
}
