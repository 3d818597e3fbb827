package api

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/modroot"
)

var update = flag.Bool("update", false, "rewrite the api/*.txt files from the source")

// public are the public packages by import path and directory (relative to
// the repository root); each has its file api/<name>.txt.
var public = []struct{ name, path, dir string }{
	{"wire", "github.com/wschat/wschat/wire", "wire"},
	{"wire-events", "github.com/wschat/wschat/wire/events", "wire/events"},
	{"client", "github.com/wschat/wschat/client", "client"},
	{"client-js", "github.com/wschat/wschat/client/js", "client/js"},
	{"publisher", "github.com/wschat/wschat/publisher", "publisher"},
	{"wschatcdk", "github.com/wschat/wschat/wschatcdk", "wschatcdk"},
}

// parse reads the package's non-test files.
func parse(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	// Every non-test file of the directory: the public packages have no
	// build-tagged files (a file for another platform would be listed too).
	paths, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != path.Base(dir) && f.Name.Name != strings.ReplaceAll(path.Base(dir), "-", "") {
			t.Fatalf("%s: package %s, want %s", p, f.Name.Name, path.Base(dir))
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return fset.File(files[i].Pos()).Name() < fset.File(files[j].Pos()).Name() })
	return fset, files
}

// decl is one exported identifier: its API line, whether it has a doc
// comment, and whether it needs one (see TestDocComments).
type decl struct {
	line       string
	doc, needs bool
}

// standardMethods implement the standard library's interfaces, whose
// documentation says what they do.
var standardMethods = map[string]bool{"Error": true, "String": true, "GoString": true, "Format": true,
	"MarshalJSON": true, "UnmarshalJSON": true, "MarshalText": true, "UnmarshalText": true, "Unwrap": true, "Is": true, "As": true}

// exported lists the package's API lines.
func exported(fset *token.FileSet, files []*ast.File, pkg string) []decl {
	str := func(n ast.Node) string {
		var b bytes.Buffer
		_ = printer.Fprint(&b, fset, n)
		return strings.Join(strings.Fields(b.String()), " ")
	}
	types := func(fl *ast.FieldList) string {
		if fl == nil {
			return ""
		}
		var out []string
		for _, f := range fl.List {
			n := max(len(f.Names), 1)
			for range n {
				out = append(out, str(f.Type))
			}
		}
		return strings.Join(out, ", ")
	}
	signature := func(ft *ast.FuncType) string {
		s := "(" + types(ft.Params) + ")"
		if r := types(ft.Results); r != "" {
			if ft.Results.NumFields() > 1 {
				r = "(" + r + ")"
			}
			s += " " + r
		}
		return s
	}
	hasDoc := func(groups ...*ast.CommentGroup) bool {
		for _, g := range groups {
			if g != nil && strings.TrimSpace(g.Text()) != "" {
				return true
			}
		}
		return false
	}
	p := "pkg " + pkg + ", "
	// Methods that implement an interface of the package are documented by
	// the interface's method (wire.Event's EventType, wire.Request's Action).
	implements := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.IsExported() {
				if it, ok := ts.Type.(*ast.InterfaceType); ok {
					for _, m := range it.Methods.List {
						for _, name := range m.Names {
							implements[name.Name] = true
						}
					}
				}
			}
			return true
		})
	}
	var out []decl
	add := func(line string, doc bool) { out = append(out, decl{p + line, doc, true}) }
	member := func(line string, doc bool) { out = append(out, decl{p + line, doc, false}) }
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					add("func "+d.Name.Name+signature(d.Type), hasDoc(d.Doc))
					continue
				}
				recv := d.Recv.List[0].Type
				base := recv
				if s, ok := recv.(*ast.StarExpr); ok {
					base = s.X
				}
				if id, ok := base.(*ast.Ident); ok && id.IsExported() {
					line := "method (" + str(recv) + ") " + d.Name.Name + signature(d.Type)
					if standardMethods[d.Name.Name] || implements[d.Name.Name] {
						member(line, hasDoc(d.Doc))
					} else {
						add(line, hasDoc(d.Doc))
					}
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						doc := hasDoc(s.Doc, d.Doc)
						switch tt := s.Type.(type) {
						case *ast.StructType:
							add("type "+s.Name.Name+" struct", doc)
							for _, fld := range tt.Fields.List {
								fdoc := hasDoc(fld.Doc, fld.Comment)
								if len(fld.Names) == 0 {
									member("type "+s.Name.Name+" struct, embedded "+str(fld.Type), true)
								}
								for _, n := range fld.Names {
									if n.IsExported() {
										member("type "+s.Name.Name+" struct, "+n.Name+" "+str(fld.Type), fdoc)
									}
								}
							}
						case *ast.InterfaceType:
							add("type "+s.Name.Name+" interface", doc)
							for _, m := range tt.Methods.List {
								if len(m.Names) == 0 {
									member("type "+s.Name.Name+" interface, embedded "+str(m.Type), true)
									continue
								}
								for _, n := range m.Names {
									if ft, ok := m.Type.(*ast.FuncType); ok && n.IsExported() {
										member("type "+s.Name.Name+" interface, "+n.Name+signature(ft), hasDoc(m.Doc, m.Comment))
									}
								}
							}
						default:
							sep := " "
							if s.Assign.IsValid() {
								sep = " = "
							}
							add("type "+s.Name.Name+sep+str(s.Type), doc)
						}
					case *ast.ValueSpec:
						kind := d.Tok.String()
						for i, n := range s.Names {
							if !n.IsExported() {
								continue
							}
							line := kind + " " + n.Name
							if s.Type != nil {
								line += " " + str(s.Type)
							}
							if kind == "const" && i < len(s.Values) {
								line += " = " + str(s.Values[i])
							}
							add(line, hasDoc(s.Doc, s.Comment, d.Doc))
						}
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].line < out[j].line })
	return out
}

// TestAPI compares each public package's exported API with its golden file.
func TestAPI(t *testing.T) {
	for _, pkg := range public {
		t.Run(pkg.name, func(t *testing.T) {
			fset, files := parse(t, pkg.dir)
			var b strings.Builder
			for _, d := range exported(fset, files, pkg.path) {
				b.WriteString(d.line + "\n")
			}
			got := b.String()
			path := pkg.name + ".txt"
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run `go test ./api -update` to create it)", err)
			}
			if got != string(want) {
				t.Errorf("the exported API of %s differs from api/%s:\n%s\nReview the change (a release note in CHANGELOG.md), then run `go test ./api -update`.",
					pkg.path, path, lineDiff(string(want), got))
			}
		})
	}
}

// TestDocComments: every exported identifier of the public packages that
// `go doc` lists on its own (functions, types, constants, variables,
// methods) has a doc comment, its own or its group's. Struct fields and
// interface methods are shown with their type's documentation; methods
// that implement a standard interface (Error, String, MarshalJSON, ...) or
// an interface of the package are documented by it.
func TestDocComments(t *testing.T) {
	n := 0
	for _, pkg := range public {
		fset, files := parse(t, pkg.dir)
		for _, d := range exported(fset, files, pkg.path) {
			if !d.needs {
				continue
			}
			n++
			if !d.doc {
				t.Errorf("no doc comment: %s", d.line)
			}
		}
	}
	if n < 80 {
		t.Errorf("only %d exported identifiers checked: the parser missed the packages", n)
	}
	t.Logf("%d exported identifiers documented", n)
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var out []string
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			out = append(out, "-"+l)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			out = append(out, "+"+l)
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}

// TestDocCheckFindsMissingDocs is the positive control: on a made-up
// package, an undocumented function and method are reported, a documented
// one, a grouped constant and a standard method are not.
func TestDocCheckFindsMissingDocs(t *testing.T) {
	src := `package x

// T is documented.
type T struct{ F int }

func Bare() {}

// Documented does.
func Documented() {}

func (T) Undocumented() {}

func (T) String() string { return "" }

// Limits group.
const (
	A = 1
	B = 2
)
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, d := range exported(fset, []*ast.File{f}, "x") {
		if d.needs && !d.doc {
			missing = append(missing, d.line)
		}
	}
	want := []string{"pkg x, func Bare()", "pkg x, method (T) Undocumented()"}
	if strings.Join(missing, "|") != strings.Join(want, "|") {
		t.Errorf("missing docs %q, want %q", missing, want)
	}
}

// TestLicenses: every module (and the npm package) carries the license in
// its own root, since a module's zip or a package's tarball holds nothing
// from above it; each copy is the repository's.
func TestLicenses(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(want, []byte("Apache License")) || !bytes.Contains(want, []byte("Version 2.0, January 2004")) {
		t.Fatalf("LICENSE is not the Apache License 2.0")
	}
	for _, dir := range []string{"wire", "client", "client/js", "publisher", "examples/shop"} {
		got, err := os.ReadFile(filepath.Join(root, dir, "LICENSE"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/LICENSE: %v; want a copy of the repository's LICENSE", dir, err)
		}
	}
}
