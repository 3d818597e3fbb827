package wire

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FromServer is the From of a message a backend published through the
// publish API, and the user id such messages carry; no user may have it.
const FromServer = "server"

// MaxUserIDBytes bounds a user id (a token's "sub").
const MaxUserIDBytes = 128

// ReservedUserIDs are ids no token may carry: they name the backend.
var ReservedUserIDs = []string{FromServer}

// CheckUserID applies the one rule for user ids, wherever an id enters
// (a token's "sub" at $connect, the publish API's user routes, stored
// connections and memberships): 1 to MaxUserIDBytes bytes of UTF-8, no
// whitespace, control or format (invisible) characters, no '#' (it would
// forge a storage key), no '/' (it would change a route), no U+FFFD, and
// not a reserved id. It returns nil or an error that says which part of
// the rule failed, and never quotes the id (it may come from a token).
// UUIDs, e-mail addresses and "user-ann" pass; Cognito's and most OIDC
// issuers' subs are UUIDs.
func CheckUserID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("user id is empty")
	case len(id) > MaxUserIDBytes:
		return fmt.Errorf("user id is %d bytes, more than %d", len(id), MaxUserIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("user id is not valid UTF-8")
	}
	for i, r := range id {
		switch {
		case r == '#' || r == '/':
			return fmt.Errorf("user id has %q at byte %d; '#' and '/' are not allowed", r, i)
		case unicode.IsSpace(r):
			return fmt.Errorf("user id has whitespace U+%04X at byte %d", r, i)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			return fmt.Errorf("user id has an invisible or control character U+%04X at byte %d", r, i)
		}
	}
	for _, reserved := range ReservedUserIDs {
		if strings.EqualFold(id, reserved) {
			return fmt.Errorf("user id %q is reserved for backends", reserved)
		}
	}
	return nil
}
