// Command chat is the Lambda function of every action route (join, leave,
// send, history, members, ping) and $default: one function, so warm
// instances are shared across actions. It only wires configuration, clients
// and logging; the logic is in package handler.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wschat/wschat/internal/auth"
	"github.com/wschat/wschat/internal/compose"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/handler"
)

func main() {
	h, err := newHandler(os.Getenv, os.Stdout)
	if err != nil {
		// Fail the init: Lambda reports it and refuses every invocation.
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler builds the handler once per process; the fan-out both
// broadcasts to channels and answers the sender.
func newHandler(getenv func(string) string, stdout io.Writer) (*handler.Chat, error) {
	p, err := compose.NewPusher(getenv, stdout)
	if err != nil {
		return nil, err
	}
	hk, hookCfg, err := compose.NewHook(getenv, p.Base)
	if err != nil {
		return nil, err
	}
	h := handler.NewChat(p.Config, p.Store, p.Broadcaster, p.Fanout, p.Log, p.Meter).CloseWith(p.Conns)
	if hk != nil {
		h.WithHook(hk, hookCfg)
	}
	// reauth verifies with the authorizer's own settings: a renewal accepts
	// exactly what a new connection would. Without an issuer configured
	// (a stack without the setting) renewals are refused.
	if getenv(contract.EnvAuthIssuer) == "" {
		return h, nil
	}
	cfg, err := auth.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	return h.WithVerifier(v), nil
}
