package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// InvokePrefix is the path of Lambda's Invoke API:
// POST /2015-03-31/functions/{FunctionName}/invocations.
const InvokePrefix = "/2015-03-31/functions/"

// Lookup finds a function by the FunctionName of an Invoke request (a
// name, an ARN or a partial ARN, with an optional qualifier); nil when
// there is none.
type Lookup func(name string) *Function

// InvokeAPI serves Lambda's Invoke API for the functions lookup finds, as
// the SDK's Lambda client calls it (signatures are the caller's to check):
// RequestResponse answers the function's payload, with
// X-Amz-Function-Error: Unhandled when it failed (error, timeout, crash);
// Event answers 202 and runs the invocation in the background (errors are
// passed to OnAsyncError); DryRun answers 204. A throttle is 429
// TooManyRequestsException, an unknown function 404
// ResourceNotFoundException.
type InvokeAPI struct {
	Lookup       Lookup
	OnAsyncError func(function string, err error)
	// Base bounds background invocations: they end with it.
	Base context.Context
}

func (a *InvokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), InvokePrefix)
	name, ok2 := strings.CutSuffix(rest, "/invocations")
	if !ok || !ok2 || r.Method != http.MethodPost {
		invokeError(w, http.StatusNotFound, "UnknownOperationException", "the emulator's Lambda API serves Invoke only: POST "+InvokePrefix+"{FunctionName}/invocations")
		return
	}
	name, err := url.PathUnescape(name)
	if err != nil {
		invokeError(w, http.StatusBadRequest, "InvalidParameterValueException", "FunctionName is not a valid path segment")
		return
	}
	fn := a.Lookup(name)
	if fn == nil {
		invokeError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		invokeError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	if len(payload) > maxPayload {
		invokeError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		invokeError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	switch typ := r.Header.Get("X-Amz-Invocation-Type"); typ {
	case "", "RequestResponse":
		a.sync(w, r, fn, payload)
	case "Event":
		base := a.Base
		if base == nil {
			base = context.Background()
		}
		go func() {
			ctx, cancel := context.WithTimeout(base, 15*time.Minute)
			defer cancel()
			if _, err := fn.Invoke(ctx, payload); err != nil && a.OnAsyncError != nil {
				a.OnAsyncError(fn.Name(), err)
			}
		}()
		w.Header().Set("X-Amzn-Requestid", newRequestID())
		w.WriteHeader(http.StatusAccepted)
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
	default:
		invokeError(w, http.StatusBadRequest, "InvalidParameterValueException", "X-Amz-Invocation-Type "+typ+" is not RequestResponse, Event or DryRun")
	}
}

// sync runs one RequestResponse invocation. The caller's context bounds
// the wait for an instance and the answer (a caller that gives up leaves
// the function running to its end, as on Lambda).
func (a *InvokeAPI) sync(w http.ResponseWriter, r *http.Request, fn *Function, payload []byte) {
	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		body, err := fn.Invoke(context.WithoutCancel(r.Context()), payload)
		done <- result{body, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	var lerr *Error
	switch {
	case res.err == nil:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.body)
	case errors.As(res.err, &lerr) && lerr.Throttled():
		w.Header().Set("X-Amzn-Errortype", ErrorTypeThrottled)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": lerr.Message, "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"})
	default:
		e := &Error{Type: "Runtime.Unknown", Message: res.err.Error()}
		if lerr != nil {
			e = lerr
		}
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(e)
	}
}

func invokeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-Errortype", typ)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}
