package main

import (
	"io"
	"testing"
)

// TestNewHandler checks the wiring builds a handler and refuses a bad
// names map; internal/compose and internal/publish test the rest.
func TestNewHandler(t *testing.T) {
	env := map[string]string{
		"WSCHAT_TABLE_NAME":     "wschat-dev",
		"WSCHAT_CALLBACK_URL":   "https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "secret",
		"WSCHAT_PUBLISH_NAMES":  `{"arn:aws:iam::111122223333:role/Orders":"Orders"}`,
	}
	getenv := func(k string) string { return env[k] }
	if h, err := newHandler(getenv, io.Discard); err != nil || h == nil {
		t.Fatalf("newHandler = %v, %v; want a handler", h, err)
	}
	env["WSCHAT_PUBLISH_NAMES"] = `{"Orders":""}`
	if _, err := newHandler(getenv, io.Discard); err == nil {
		t.Error("newHandler with a bad names map succeeded")
	}
	delete(env, "WSCHAT_PUBLISH_NAMES")
	delete(env, "WSCHAT_CALLBACK_URL")
	if _, err := newHandler(getenv, io.Discard); err == nil {
		t.Error("newHandler without a callback URL succeeded")
	}
}
