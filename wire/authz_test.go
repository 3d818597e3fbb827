package wire

import "testing"

// TestDirectChannel: the name is order-independent, reserved-prefixed and
// fixed by these vectors, which client/js/wschat.test.js checks too (the
// second pair orders differently in UTF-16 and in UTF-8: bytes decide).
func TestDirectChannel(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"ann", "bob", "dm-b6owpid5zvwnmtgm2bwf4k3gk7gxciym"},
		{"ｱ", "👍", "dm-jmkiqn2qka2aqj2mht5y5mj36zbs7jbl"},
	} {
		if got, rev := DirectChannel(tc.a, tc.b), DirectChannel(tc.b, tc.a); got != tc.want || rev != tc.want {
			t.Errorf("DirectChannel(%q, %q) = %s, reversed %s; want %s", tc.a, tc.b, got, rev, tc.want)
		}
		if !ValidChannel(tc.want) || !IsDirect(tc.want) {
			t.Errorf("%s is not a valid direct channel name", tc.want)
		}
	}
	if DirectChannel("ann", "bob") == DirectChannel("ann", "bobb") || DirectChannel("a", "b\x00c") == DirectChannel("a\x00b", "c") {
		t.Error("distinct pairs share a name")
	}
}
