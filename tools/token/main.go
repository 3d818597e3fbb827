// Command token prints a token for the local emulator, signed with the key
// that the emulator's issuer saved (by default .dev/issuer-key.pem):
//
//	go run ./tools/token -user ann
//	wscat -c "ws://127.0.0.1:PORT/dev?token=$(go run ./tools/token -user ann)"
//
// It works offline; it never talks to the emulator. Local development only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"wschat/internal/localissuer"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		user     = fs.String("user", "", "user id (the token's sub); required, e.g. ann")
		name     = fs.String("name", "", "display name (default: the user id)")
		keyFile  = fs.String("key", localissuer.DefaultKeyFile, "issuer key file written by the local emulator")
		issuer   = fs.String("issuer", "", "issuer URL (default: the one recorded in the key file)")
		audience = fs.String("audience", "", "audience (default: the one recorded in the key file)")
		ttl      = fs.Duration("ttl", localissuer.DefaultTTL, "token lifetime")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: token -user NAME [flags]

Prints a JWT for the local emulator on stdout, signed with the key its issuer
saved. Start the emulator first ("make dev"). A token verifies only while the
emulator serves the key it was signed with: mint a new one after a restart
that changed the key.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "token: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *user == "" {
		fmt.Fprintln(stderr, "token: -user is required, e.g. -user ann")
		return 2
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "token: -ttl must be positive")
		return 2
	}

	iss, err := localissuer.LoadKey(*keyFile, *issuer, *audience)
	if errors.Is(err, localissuer.ErrNoKeyFile) {
		fmt.Fprintf(stderr, "token: no key at %s: start the emulator first (make dev), or pass -key\n", *keyFile)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 1
	}
	tok, err := iss.Mint(*user, *name, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
