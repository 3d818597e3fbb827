// Command authorizer is the Lambda REQUEST authorizer of the WebSocket
// $connect route. It only wires configuration and logging; the logic is in
// package auth.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wschat/wschat/internal/auth"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
)

func main() {
	a, err := newAuthorizer(os.Getenv, os.Stdout)
	if err != nil {
		// A misconfigured authorizer must not start: Lambda reports the init
		// error and every $connect is refused (fail closed).
		fmt.Fprintln(os.Stderr, "authorizer:", err)
		os.Exit(1)
	}
	lambda.Start(a.Handle)
}

// newAuthorizer reads the configuration once per process. The verifier made
// here keeps the issuer's JWKS cached across invocations.
func newAuthorizer(getenv func(string) string, stdout io.Writer) (*auth.Authorizer, error) {
	logger, err := logging.New(stdout, getenv(contract.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvLogLevel, err)
	}
	cfg, err := auth.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	return auth.NewAuthorizer(v, logger), nil
}
