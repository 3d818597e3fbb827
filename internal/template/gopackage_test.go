package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoPackageFromBuildInfo: a Go function without the metadata (an app's
// own, built by any tool) is named by the main package in its asset
// binary's build info; an asset that is no Go binary names nothing.
func TestGoPackageFromBuildInfo(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got := builtFrom(self); got != "github.com/wschat/wschat/internal/template.test" {
		t.Errorf("builtFrom(this test binary) = %q, want its package", got)
	}
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/minimal.template.json")
	if err != nil {
		t.Fatal(err)
	}
	// The chat function keeps only its asset: a copy of a Go binary.
	tpl := strings.Replace(string(b), `"aws:asset:path": "asset.abc123", "aws:asset:property": "Code", "wschat:goPackage": "./lambdas/chat"`,
		`"aws:asset:path": "asset.go", "aws:asset:property": "Code"`, 1)
	if tpl == string(b) {
		t.Fatal("the testdata's chat function metadata changed: update this test")
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{"t.template.json": []byte(tpl), "asset.go/bootstrap": bin} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Load(filepath.Join(dir, "t.template.json"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if chat := function(t, s, "ChatFunction"); chat.GoPackage != "github.com/wschat/wschat/internal/template.test" {
		t.Errorf("chat function package %q, want the one its asset was built from", chat.GoPackage)
	}
	if err := os.WriteFile(filepath.Join(dir, "asset.go", "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := builtFrom(filepath.Join(dir, "asset.go", "bootstrap")); got != "" {
		t.Errorf("builtFrom(a shell script) = %q, want nothing", got)
	}
}
