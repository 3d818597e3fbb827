package localissuer

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The token endpoint mints a token for any user, so the emulator lets only
// two kinds of caller use it: its own chat page (a request whose Origin is
// the emulator's) and tools on this machine that prove they can read the
// run's secret, a random value the emulator makes at every start, writes to
// SecretFile (mode 0600) and to its ready file, and removes at exit. A web
// page can neither read the file nor (without the emulator's Origin) pass.

// SecretFile is where the emulator listening on port keeps its run's
// secret, under the module root: one file per port, so two emulators of one
// checkout do not share one.
func SecretFile(root string, port int) string {
	return filepath.Join(root, ".dev", "issuer-secret-"+strconv.Itoa(port))
}

// NewSecret returns a fresh run secret: 32 random bytes, hex.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make the issuer secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// WriteSecret writes secret to path, readable by this user only.
func WriteSecret(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write the issuer secret: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the issuer secret: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the issuer secret: %w", err)
	}
	return nil
}

// ReadSecret reads the secret written by WriteSecret.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Authorize sets the header a tool sends with its token request.
func Authorize(r *http.Request, secret string) {
	r.Header.Set("Authorization", "Bearer "+secret)
}

// HasSecret reports whether r carries secret (see Authorize), compared in
// constant time.
func HasSecret(r *http.Request, secret string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && secret != "" && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1
}
