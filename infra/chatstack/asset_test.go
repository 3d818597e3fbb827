package chatstack

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/modroot"
)

// TestEditInInternalChangesEveryAssetHash proves output hashing: an edit to a
// package under internal/ that every function links changes the asset hash of
// every function, so `cdk deploy` can never ship stale code under an old hash.
// It works on a copy of the module so the repository is never touched.
func TestEditInInternalChangesEveryAssetHash(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	copyRoot := t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "internal", "lambdas", "wire", "client", "publisher"} {
		if err := copyTree(filepath.Join(root, p), filepath.Join(copyRoot, p)); err != nil {
			t.Fatal(err)
		}
	}

	before := assetKeys(t, copyRoot)
	if len(before) != 8 {
		t.Fatalf("got asset keys %v, want one per function (8: dev has the events and expiry functions)", before)
	}
	// Unchanged sources give the same hashes: the build is reproducible.
	if again := assetKeys(t, copyRoot); !equalMaps(before, again) {
		t.Fatalf("hashes changed without an edit:\n%v\n%v", before, again)
	}

	contractFile := filepath.Join(copyRoot, "internal", "contract", "contract.go")
	src, err := os.ReadFile(contractFile)
	if err != nil {
		t.Fatal(err)
	}
	edit := string(src) + "\nfunc init() { println(\"an edit in internal/\") }\n"
	if err := os.WriteFile(contractFile, []byte(edit), 0o644); err != nil {
		t.Fatal(err)
	}
	after := assetKeys(t, copyRoot)
	for fn, key := range before {
		if after[fn] == key {
			t.Errorf("%s: asset %s unchanged after an edit in internal/contract", fn, key)
		}
	}
}

// assetKeys synthesizes dev from moduleRoot and returns each function's S3 key.
func assetKeys(t *testing.T, moduleRoot string) map[string]string {
	t.Helper()
	// CDK caches bundles by source path and options within one process;
	// clear it so the second synth really rebuilds.
	awscdk.AssetStaging_ClearAssetHashCache()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	cfg, err := Lookup("dev")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewChatStack(app, StackProps{Config: cfg, ModuleRoot: moduleRoot})
	if err != nil {
		t.Fatal(err)
	}
	template := *assertions.Template_FromStack(s.Stack, nil).ToJSON()
	out := map[string]string{}
	for _, fn := range resources(t, template, "AWS::Lambda::Function") {
		pkg := fn["Metadata"].(map[string]any)[contract.MetadataGoPackage].(string)
		out[pkg] = props(fn)["Code"].(map[string]any)["S3Key"].(string)
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != src {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
