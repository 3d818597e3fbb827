package gobuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	for _, tt := range []struct {
		name, gomod string
		want        bool // -mod=mod -modfile=...
	}{
		{"wschat itself", "module github.com/wschat/wschat\n\ngo 1.26.0\n", false},
		{"a module without wschat", "module example.com/other\n\ngo 1.26.0\n", false},
		{"a require block", "module example.com/app\n\ngo 1.26.0\n\nrequire (\n\tgithub.com/wschat/wschat v0.1.0\n)\n", true},
		{"a one-line require", "module example.com/app\n\ngo 1.26.0\n\nrequire github.com/wschat/wschat v0.1.0\n", true},
		{"only the client", "module example.com/app\n\ngo 1.26.0\n\nrequire github.com/wschat/wschat/client v0.1.0\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(tt.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			if !tt.want {
				flags, cleanup, err := Flags(dir)
				defer cleanup()
				if err != nil || len(flags) != 0 {
					t.Errorf("Flags = %v, %v; want none", flags, err)
				}
				return
			}
			// The module requires wschat but cannot resolve it (no replace,
			// no such version here): the error says what was looked for.
			t.Setenv("GOFLAGS", "-mod=mod")
			t.Setenv("GOPROXY", "off")
			_, cleanup, err := Flags(dir)
			defer cleanup()
			if err == nil || !strings.Contains(err.Error(), "find github.com/wschat/wschat") {
				t.Errorf("Flags of an unresolvable wschat = %v, want the lookup's error", err)
			}
		})
	}
}
