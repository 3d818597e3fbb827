package main

import (
	"io"
	"testing"
)

// TestNewHandler checks the wiring builds a handler and fails the init on
// a missing setting; internal/handler and internal/fanout test the rest.
func TestNewHandler(t *testing.T) {
	env := map[string]string{
		"WSCHAT_TABLE_NAME":     "wschat-dev",
		"WSCHAT_CALLBACK_URL":   "https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "secret",
	}
	getenv := func(k string) string { return env[k] }
	if h, err := newHandler(getenv, io.Discard); err != nil || h == nil {
		t.Fatalf("newHandler = %v, %v; want a handler", h, err)
	}
	delete(env, "WSCHAT_CALLBACK_URL")
	if _, err := newHandler(getenv, io.Discard); err == nil {
		t.Error("newHandler without a callback URL succeeded")
	}
}
