package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Display names come from tokens ("name", "cognito:username", ...), which
// a user may be able to set, and every member sees them. So they are
// normalised before anyone sees them, and one that imitates a backend's
// name is marked: a user renamed "Orders" or "ѕerver" must not post what
// looks like a backend's message (clients tell those apart by From and
// UserID too; the name is what people read).

// MaxDisplayNameRunes bounds a display name, in code points.
const MaxDisplayNameRunes = 64

// UserMark is appended to a user's display name that imitates a reserved
// (backend) name.
const UserMark = " (user)"

// CleanDisplayName normalises a display name: invalid UTF-8 and U+FFFD
// are dropped, as are control characters, format characters (bidi
// overrides and isolates, zero-width spaces and joiners, soft hyphens, tag
// characters) and other invisible code points (Hangul fillers, the braille
// blank, variation selectors, the combining grapheme joiner); a run of
// more than 3 combining marks is cut to 3; every kind of whitespace,
// tabs and line breaks included, becomes one space; the result is trimmed
// and cut to MaxDisplayNameRunes. It returns "" when nothing visible
// remains: the caller then shows the user id.
func CleanDisplayName(s string) string {
	var b strings.Builder
	marks, space, n := 0, false, 0
	for _, r := range strings.ToValidUTF8(s, "") {
		switch {
		case unicode.IsSpace(r) || unicode.In(r, unicode.Zl, unicode.Zp):
			space = b.Len() > 0
			continue
		case r == utf8.RuneError || invisible(r):
			continue
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
			if marks++; marks > 3 || b.Len() == 0 {
				continue
			}
		default:
			marks = 0
		}
		if n >= MaxDisplayNameRunes {
			break
		}
		if space {
			if n+1 >= MaxDisplayNameRunes {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// invisible reports code points that show nothing (or change how their
// neighbours show) and that a name never needs.
func invisible(r rune) bool {
	switch {
	case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Co, r), unicode.Is(unicode.Cs, r):
		return true
	case r == 0x034F, // combining grapheme joiner
		r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0, // Hangul fillers
		r == 0x2800,                                        // braille pattern blank
		r >= 0xFE00 && r <= 0xFE0F,                         // variation selectors
		r >= 0xE0100 && r <= 0xE01EF,                       // variation selectors supplement
		r == 0x180B, r == 0x180C, r == 0x180D, r == 0x180F: // Mongolian variation selectors
		return true
	}
	return false
}

// confusable maps code points that look like a Latin letter or digit to
// it (after case folding); from Unicode's confusables (UTS #39), the
// Cyrillic, Greek and Latin ones a name is likely to use. 0, o and their
// look-alikes share "o"; 1, i, l, I and theirs share "l".
var confusable = map[rune]rune{
	'0': 'o', 'ο': 'o', 'о': 'o', 'օ': 'o', 'ჿ': 'o',
	'1': 'l', 'i': 'l', '|': 'l', 'ı': 'l', 'ɩ': 'l', 'ℓ': 'l', 'і': 'l', 'ӏ': 'l', 'ι': 'l', 'ⅰ': 'l', 'ⅼ': 'l', 'ǀ': 'l',
	'а': 'a', 'α': 'a', 'ɑ': 'a',
	'в': 'b', 'β': 'b', 'ь': 'b',
	'с': 'c', 'ϲ': 'c', 'ⅽ': 'c',
	'ԁ': 'd', 'ⅾ': 'd',
	'е': 'e', 'ё': 'e', 'ε': 'e', 'є': 'e', '℮': 'e',
	'ɡ': 'g', 'ց': 'g',
	'һ': 'h', 'н': 'h', 'η': 'h',
	'ј': 'j', 'ϳ': 'j',
	'к': 'k', 'κ': 'k',
	'м': 'm', 'ⅿ': 'm',
	'ո': 'n', 'п': 'n',
	'р': 'p', 'ρ': 'p',
	'ԛ': 'q',
	'г': 'r',
	'ѕ': 's', 'ꜱ': 's',
	'т': 't', 'τ': 't',
	'υ': 'u', 'ս': 'u',
	'ν': 'v', 'ѵ': 'v', 'ⅴ': 'v',
	'ԝ': 'w', 'ω': 'w',
	'х': 'x', 'χ': 'x', 'ⅹ': 'x',
	'у': 'y', 'γ': 'y', 'ү': 'y',
	'ᴢ': 'z',
}

// Skeleton is the form in which names that look alike are equal: case
// folded, full-width and mathematical letters and digits as ASCII,
// confusable letters as the Latin letter they imitate, combining marks,
// spaces, punctuation and symbols dropped, "rn" as "m" and "vv" as "w".
// It over-matches on purpose: it only decides whether a name is marked.
func Skeleton(s string) string {
	var b strings.Builder
	for _, r := range CleanDisplayName(s) {
		r = asciiForm(unicode.ToLower(r))
		if c, ok := confusable[r]; ok {
			r = c
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	out := strings.ReplaceAll(b.String(), "rn", "m")
	return strings.ReplaceAll(out, "vv", "w")
}

// asciiForm maps full-width and mathematical alphanumerics to ASCII.
func asciiForm(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return unicode.ToLower(r - 0xFEE0)
	case r >= 0x1D400 && r <= 0x1D6A3:
		i := (r - 0x1D400) % 52
		if i >= 26 {
			i -= 26
		}
		return 'a' + i
	case r >= 0x1D7CE && r <= 0x1D7FF:
		return '0' + (r-0x1D7CE)%10
	}
	return r
}

// ReservedNames are the display names only backends show: FromServer and
// the configured names of the publish API's callers.
type ReservedNames struct {
	bySkeleton map[string]string
}

// NewReservedNames returns the set of names, always with FromServer.
func NewReservedNames(names ...string) ReservedNames {
	r := ReservedNames{bySkeleton: map[string]string{}}
	for _, n := range append([]string{FromServer}, names...) {
		if sk := Skeleton(n); sk != "" {
			r.bySkeleton[sk] = n
		}
	}
	return r
}

// Imitates returns the reserved name that name looks like, if any.
func (r ReservedNames) Imitates(name string) (string, bool) {
	n, ok := r.bySkeleton[Skeleton(name)]
	return n, ok
}

// UserDisplayName is the name a user with id userID shows for the raw
// name of its token: CleanDisplayName of it, the user id when nothing is
// left, and UserMark appended when it looks like a reserved name.
func (r ReservedNames) UserDisplayName(raw, userID string) string {
	name := CleanDisplayName(raw)
	if name == "" {
		name = CleanDisplayName(userID)
	}
	if _, ok := r.Imitates(name); !ok {
		return name
	}
	keep := MaxDisplayNameRunes - utf8.RuneCountInString(UserMark)
	if utf8.RuneCountInString(name) > keep {
		name = strings.TrimSpace(string([]rune(name)[:keep]))
	}
	return name + UserMark
}
