package chat

import (
	"errors"
	"fmt"
	"strings"
)

// Right is one thing a connection may do on a channel.
type Right byte

// The rights a capability grants. A channel entry without rights grants all
// four.
const (
	// RightRead: join the channel (and so receive its messages and presence
	// events) and read its history.
	RightRead Right = 'r'
	// RightWrite: send to the channel.
	RightWrite Right = 'w'
	// RightPresence: list the channel's members.
	RightPresence Right = 'p'
	// RightDirect: open a direct-message channel (IsDirect) whose name the
	// pattern matches: "dm-*" or "*" let the holder start direct messages
	// with anyone. Reading and writing in one is decided by its member
	// list (the two users), not by the other rights.
	RightDirect Right = 'd'
)

// allRights is what an entry without "=rights" grants.
const allRights = "rwpd"

// Bounds on a capability string: it travels in a token, in the authorizer
// context and on the connection item.
const (
	MaxCapabilityEntries = 32
	MaxCapabilityBytes   = 2048
	maxPatternLen        = 64
)

// CapabilityVersion prefixes the canonical form, so "no channels" ("v1:")
// differs from "no claim at all" (no value) wherever the string travels.
const CapabilityVersion = "v1:"

// Capabilities is what a connection may do on which channels: entries of a
// channel pattern and its rights. The zero value grants nothing.
type Capabilities struct {
	entries []capEntry
}

type capEntry struct {
	pattern string // a channel name, "prefix*" or "*"
	rights  string // a subset of allRights, in that order
}

// ErrCapability: a capability string is malformed.
var ErrCapability = errors.New("bad capability")

// ParseCapabilities reads a capability string: entries separated by spaces
// or commas, each "pattern" or "pattern=rights", where pattern is a channel
// name ([a-z0-9][a-z0-9_-]*), such a name followed by "*" (every channel
// with that prefix) or "*" alone (every channel), and rights are letters of
// "rwpd" (read, write, presence, direct). The canonical form (String) may carry the
// CapabilityVersion prefix, which is accepted and ignored.
func ParseCapabilities(s string) (Capabilities, error) {
	if len(s) > MaxCapabilityBytes {
		return Capabilities{}, fmt.Errorf("%w: longer than %d bytes", ErrCapability, MaxCapabilityBytes)
	}
	s = strings.TrimPrefix(s, CapabilityVersion)
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(fields) > MaxCapabilityEntries {
		return Capabilities{}, fmt.Errorf("%w: more than %d entries", ErrCapability, MaxCapabilityEntries)
	}
	var c Capabilities
	for _, f := range fields {
		pattern, rights, hasRights := strings.Cut(f, "=")
		if !validPattern(pattern) {
			return Capabilities{}, fmt.Errorf("%w: pattern %q: want a channel name, name* or *", ErrCapability, pattern)
		}
		if !hasRights {
			rights = allRights
		}
		canon, ok := canonicalRights(rights)
		if !ok {
			return Capabilities{}, fmt.Errorf("%w: rights %q of %q: want letters of %q", ErrCapability, rights, pattern, allRights)
		}
		c.entries = append(c.entries, capEntry{pattern: pattern, rights: canon})
	}
	return c, nil
}

// MustParseCapabilities is ParseCapabilities for constants; it panics on a
// malformed string, so it is only for package-level values and tests.
func MustParseCapabilities(s string) Capabilities {
	c, err := ParseCapabilities(s)
	if err != nil {
		panic(err)
	}
	return c
}

// String is the canonical form: CapabilityVersion then "pattern=rights"
// entries separated by single spaces.
func (c Capabilities) String() string {
	parts := make([]string, len(c.entries))
	for i, e := range c.entries {
		parts[i] = e.pattern + "=" + e.rights
	}
	return CapabilityVersion + strings.Join(parts, " ")
}

// Allows reports whether some entry whose pattern matches channel grants
// right. Entries add up: "team-*=r team-a=w" lets team-a be joined and sent to.
func (c Capabilities) Allows(channel string, right Right) bool {
	for _, e := range c.entries {
		if matchPattern(e.pattern, channel) && strings.IndexByte(e.rights, byte(right)) >= 0 {
			return true
		}
	}
	return false
}

func matchPattern(pattern, channel string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(channel, prefix)
	}
	return pattern == channel
}

// validPattern accepts the channel alphabet of the protocol (lowercase
// letters, digits, '-', '_', first a letter or digit) with an optional
// trailing '*'. Anything else ('#', '?', '*' in the middle) is refused, so a
// pattern means exactly what it reads as.
func validPattern(p string) bool {
	name := strings.TrimSuffix(p, "*")
	if len(p) == 0 || len(p) > maxPatternLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
		case (b == '-' || b == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// canonicalRights returns rights as a subset of allRights in its order.
func canonicalRights(rights string) (string, bool) {
	if rights == "" {
		return "", false
	}
	for i := 0; i < len(rights); i++ {
		if strings.IndexByte(allRights, rights[i]) < 0 {
			return "", false
		}
	}
	var b strings.Builder
	for i := 0; i < len(allRights); i++ {
		if strings.IndexByte(rights, allRights[i]) >= 0 {
			b.WriteByte(allRights[i])
		}
	}
	return b.String(), true
}
