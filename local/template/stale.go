package template

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// sourceDirs are the directories whose Go files the template is synthesized
// from (infra/) or describes (internal/, lambdas/).
var sourceDirs = []string{"infra", "internal", "lambdas"}

// ErrMissing is wrapped by CheckFresh when the template does not exist.
var ErrMissing = errors.New("template not found")

// StaleError reports a source file newer than the template.
type StaleError struct {
	Template string
	Newer    string
	ModTime  time.Time
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("template %s is older than %s (changed %s): synthesize again", e.Template, e.Newer, e.ModTime.Format(time.DateTime))
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
	var newest *StaleError
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
			if info.ModTime().After(st.ModTime()) && (newest == nil || info.ModTime().After(newest.ModTime)) {
				rel, _ := filepath.Rel(root, path)
				newest = &StaleError{Template: templatePath, Newer: rel, ModTime: info.ModTime()}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("check template freshness: %w", err)
		}
	}
	if newest != nil {
		return newest
	}
	return nil
}
