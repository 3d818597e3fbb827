package template

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// sourceDirs are the directories whose Go files the template is synthesized
// from (infra/, wschatcdk/) or describes (internal/, lambdas/).
var sourceDirs = []string{"infra", "wschatcdk", "internal", "lambdas", "wire"}

// ErrMissing is wrapped by CheckFresh when the template does not exist.
var ErrMissing = errors.New("template not found")

// StaleError reports source files newer than the template.
type StaleError struct {
	Template string
	// Newer and ModTime are the most recently changed source file.
	Newer   string
	ModTime time.Time
	// Synthesized is the template's modification time.
	Synthesized time.Time
	// Files are every newer source file, most recently changed first.
	Files []string
}

// maxStaleFiles is how many newer files the message names.
const maxStaleFiles = 5

func (e *StaleError) Error() string {
	what := e.Newer + " (changed " + e.ModTime.Format(time.DateTime) + ")"
	if n := len(e.Files); n > 1 {
		shown := e.Files[:min(n, maxStaleFiles)]
		what = fmt.Sprintf("%d source files changed since the synth, newest first: %s", n, strings.Join(shown, ", "))
		if n > maxStaleFiles {
			what += fmt.Sprintf(" and %d more", n-maxStaleFiles)
		}
		what += " (newest changed " + e.ModTime.Format(time.DateTime) + ")"
	}
	return fmt.Sprintf("template %s (synthesized %s) is older than %s: synthesize again", e.Template, e.Synthesized.Format(time.DateTime), what)
}

// CheckFresh returns an error wrapping ErrMissing when the template is
// missing, or a *StaleError when a .go file under root's sourceDirs is newer.
func CheckFresh(templatePath, root string) error {
	st, err := os.Stat(templatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrMissing, templatePath)
	}
	if err != nil {
		return err
	}
	type stamped struct {
		path string
		mod  time.Time
	}
	var newer []stamped
	for _, dir := range sourceDirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				if name := d.Name(); name == "testdata" || name == "node_modules" || (len(name) > 1 && name[0] == '.') {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Ext(path) != ".go" || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if info.ModTime().After(st.ModTime()) {
				rel, _ := filepath.Rel(root, path)
				newer = append(newer, stamped{rel, info.ModTime()})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("check template freshness: %w", err)
		}
	}
	if len(newer) == 0 {
		return nil
	}
	sort.SliceStable(newer, func(i, j int) bool { return newer[i].mod.After(newer[j].mod) })
	e := &StaleError{Template: templatePath, Newer: newer[0].path, ModTime: newer[0].mod, Synthesized: st.ModTime()}
	for _, n := range newer {
		e.Files = append(e.Files, n.path)
	}
	return e
}
