// Command token prints a token for the local emulator listening on a port,
// minted by that emulator's own issuer (POST /local-issuer/token):
//
//	go run ./tools/token -user ann                 # emulator on port 3001
//	go run ./tools/token -user ann -port 4000
//	wscat -c "ws://127.0.0.1:PORT/dev?token=$(go run ./tools/token -user ann -port PORT)"
//
// It asks the running emulator rather than reading a key file, so with two
// emulators from one checkout each token is signed by the issuer of the
// emulator it names. The emulator mints only for its own page and for
// tools that send its run's secret, which it writes to
// .dev/issuer-secret-<port> under the module root (-secret-file for
// another place, such as the issuerSecretFile of a ready file). Local
// development only.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wschat/wschat/internal/localissuer"
	"github.com/wschat/wschat/internal/modroot"
)

// issuerPath is where the emulator mounts its issuer (local/issuer.go).
const issuerPath = "/local-issuer"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		user       = fs.String("user", "", "user id (the token's sub); required, e.g. ann")
		name       = fs.String("name", "", "display name (default: the user id)")
		port       = fs.Int("port", 3001, "port of the running emulator on 127.0.0.1 (make dev PORT=...)")
		channels   = fs.String("channels", "", "channels the token grants, e.g. 'general,team-*=r' (docs/auth.md); omitted: no claim, the environment's default applies")
		secretFile = fs.String("secret-file", "", "the emulator's issuer secret file (default: .dev/issuer-secret-<port> under the module root)")
		ttl        = fs.Duration("ttl", 0, "the token's lifetime, 1s to 24h (default: the issuer's, 1h); short ones show expiry and renewal (docs/auth.md)")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: token -user NAME [flags]

Prints a JWT on stdout, minted by the issuer of the emulator listening on
127.0.0.1:PORT. Start the emulator first ("make dev"). A token verifies only
at the emulator that minted it, and only while it keeps its key.

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
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "token: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	case *user == "":
		fmt.Fprintln(stderr, "token: -user is required, e.g. -user ann")
		return 2
	case *port < 1 || *port > 65535:
		fmt.Fprintf(stderr, "token: -port %d out of range\n", *port)
		return 2
	}
	var grant *string // nil: no claim at all, which differs from an empty one
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "channels" {
			grant = channels
		}
	})
	if *secretFile == "" {
		if root, err := modroot.FromWorkingDir(); err == nil {
			*secretFile = localissuer.SecretFile(root, *port)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	tok, err := mint(client, net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)), *user, *name, grant, *secretFile, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// mint asks the issuer of the emulator at hostPort for a token, with a
// channels claim unless channels is nil, living ttl (0: the issuer's
// default), sending the run's secret read from secretFile.
func mint(client *http.Client, hostPort, user, name string, channels *string, secretFile string, ttl time.Duration) (string, error) {
	fields := map[string]string{"user": user, "name": name}
	if channels != nil {
		fields["channels"] = *channels
	}
	if ttl > 0 {
		fields["ttl"] = ttl.String()
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return "", err
	}
	url := "http://" + hostPort + issuerPath + "/token"
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	secret, secretErr := localissuer.ReadSecret(secretFile)
	if secretErr == nil {
		localissuer.Authorize(req, secret)
	}
	resp, err := client.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "", fmt.Errorf("no emulator listens on %s: start one with make dev (PORT=%s), or pass -port", hostPort, portOf(hostPort))
	}
	if err != nil {
		return "", fmt.Errorf("ask the emulator on %s: %w", hostPort, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Token string `json:"token"`
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	decodeErr := json.Unmarshal(raw, &answer)
	switch {
	case resp.StatusCode == http.StatusForbidden && secretErr != nil:
		return "", fmt.Errorf("the emulator on %s refused: %s (the secret: %v; is the emulator on this port started from this checkout? else pass -secret-file)",
			hostPort, strings.TrimSpace(strings.TrimPrefix(string(raw), "refused: ")), secretErr)
	case resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("the emulator on %s refused: %s (sent the secret of %s: another emulator's?)",
			hostPort, strings.TrimSpace(strings.TrimPrefix(string(raw), "refused: ")), secretFile)
	case resp.StatusCode == http.StatusOK && decodeErr == nil && answer.Token != "":
		return answer.Token, nil
	case answer.Error != "":
		return "", fmt.Errorf("the emulator on %s refused: %s", hostPort, answer.Error)
	default:
		return "", fmt.Errorf("POST %s answered %s without a token: is a wschat emulator listening on %s?", url, resp.Status, hostPort)
	}
}

func portOf(hostPort string) string {
	_, port, _ := strings.Cut(hostPort, ":")
	return port
}
