package chat

import (
	"errors"
	"testing"
)

func TestCapabilitiesAllows(t *testing.T) {
	tests := []struct {
		caps    string
		channel string
		right   Right
		want    bool
	}{
		{"general", "general", RightRead, true},
		{"general", "general", RightWrite, true},
		{"general", "general", RightPresence, true},
		{"general", "generalx", RightRead, false},
		{"general", "gen", RightRead, false},
		{"team-*", "team-a", RightRead, true},
		{"team-*", "team-", RightRead, true},
		{"team-*", "teams", RightRead, false},
		{"*", "anything", RightWrite, true},
		{"general=r", "general", RightRead, true},
		{"general=r", "general", RightWrite, false},
		{"general=r", "general", RightPresence, false},
		{"general=w", "general", RightRead, false},
		{"general=p", "general", RightPresence, true},
		{"team-*=r team-a=w", "team-a", RightWrite, true},
		{"team-*=r team-a=w", "team-b", RightWrite, false},
		{"a,b=wr", "b", RightWrite, true},
		{"", "general", RightRead, false},
		{"v1:", "general", RightRead, false},
		{"v1:general=rw", "general", RightWrite, true},
	}
	for _, tt := range tests {
		c, err := ParseCapabilities(tt.caps)
		if err != nil {
			t.Fatalf("ParseCapabilities(%q): %v", tt.caps, err)
		}
		if got := c.Allows(tt.channel, tt.right); got != tt.want {
			t.Errorf("%q.Allows(%q, %c) = %v, want %v", tt.caps, tt.channel, tt.right, got, tt.want)
		}
	}
}

func TestParseCapabilitiesRefuses(t *testing.T) {
	long := make([]byte, MaxCapabilityBytes+1)
	for i := range long {
		long[i] = 'a'
	}
	many := ""
	for i := 0; i <= MaxCapabilityEntries; i++ {
		many += "a "
	}
	for _, s := range []string{"Gen", "a#b", "a*b", "**", "*a", "-a", "a=", "a=x", "a=rwx", "a?", string(long), many, "a b=R"} {
		if _, err := ParseCapabilities(s); !errors.Is(err, ErrCapability) {
			t.Errorf("ParseCapabilities(%q) = %v, want ErrCapability", s, err)
		}
	}
}

func TestCapabilitiesStringRoundTrips(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "v1:"},
		{"general", "v1:general=rwpd"},
		{"team-*=pr, x=w", "v1:team-*=rp x=w"},
	}
	for _, tt := range tests {
		got := MustParseCapabilities(tt.in).String()
		if got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := MustParseCapabilities(got).String(); again != got {
			t.Errorf("round trip of %q = %q", got, again)
		}
	}
}
