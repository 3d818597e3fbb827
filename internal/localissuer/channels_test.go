package localissuer

import (
	"context"
	"testing"
	"time"
)

// TestMintWithChannels: the claim verifies into the canonical capability;
// a plain Mint has none; a malformed list is refused before signing.
func TestMintWithChannels(t *testing.T) {
	iss, srv := serve(t)
	v := verifierFor(t, iss, srv)
	tests := []struct {
		channels *string
		want     string
		wantErr  bool
	}{
		{nil, "", false},
		{ptr("general,team-*"), "v1:general=rwpd team-*=rwpd", false},
		{ptr("general=r"), "v1:general=r", false},
		{ptr(""), "v1:", false},
		{ptr("General"), "", true},
		{ptr("a=q"), "", true},
	}
	for _, tt := range tests {
		var tok string
		var err error
		if tt.channels == nil {
			tok, err = iss.Mint("ann", "", time.Minute)
		} else {
			tok, err = iss.MintWithChannels("ann", "", *tt.channels, time.Minute)
		}
		if (err != nil) != tt.wantErr {
			t.Fatalf("mint %v: error %v, want error %v", tt.channels, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		id, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if id.Channels != tt.want {
			t.Errorf("channels %v: verified as %q, want %q", tt.channels, id.Channels, tt.want)
		}
	}
}

func ptr(s string) *string { return &s }
