package events

import (
	"embed"
	"fmt"
)

// The JSON Schema (draft 2020-12) of each detail, one file per detail-type
// in schema/. They are strict (no property beyond those listed), so a test
// that validates real events against them proves the events carry exactly
// what this contract says.
//
//go:embed schema/*.json
var schemas embed.FS

// Schema returns the JSON Schema of detailType's detail.
func Schema(detailType string) ([]byte, error) {
	b, err := schemas.ReadFile("schema/" + detailType + ".json")
	if err != nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, detailType)
	}
	return b, nil
}
