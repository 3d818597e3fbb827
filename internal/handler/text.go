package handler

import (
	"unicode/utf8"

	"github.com/wschat/wschat/internal/protocol"
)

// checkText is the send handler's own check of a message text, whatever
// decoded the frame: invalid UTF-8 is invalid_json (as the protocol says of
// the frame; a gateway or decoder that let it through must not get it into
// history), and control characters other than tab, line feed and carriage
// return are invalid_field: NUL and its kin truncate or corrupt text in
// terminals, logs and C-string consumers, and C1 controls (U+0080-U+009F)
// are legacy terminal escapes no chat text needs.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return protocol.Errorf(protocol.CodeInvalidJSON, "", "text is not valid UTF-8")
	}
	for i, r := range s {
		if isForbiddenControl(r) {
			return protocol.Errorf(protocol.CodeInvalidField, "", "text contains control character U+%04X at byte %d; only tab, line feed and carriage return are allowed", r, i)
		}
	}
	return nil
}

func isForbiddenControl(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return false
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	}
	return false
}
