package emutest

import "context"

// TokenWithChannels mints a token for user whose wschat:channels claim is
// channels (docs/auth.md), from the emulator's local issuer.
func (e *Emulator) TokenWithChannels(ctx context.Context, user, channels string) (string, error) {
	return e.mint(ctx, map[string]string{"user": user, "name": user, "channels": channels})
}
