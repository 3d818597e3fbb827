package emutest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// TokenWithChannels mints a token for user whose wschat:channels claim is
// channels (docs/auth.md), from the emulator's local issuer.
func (e *Emulator) TokenWithChannels(ctx context.Context, user, channels string) (string, error) {
	body, _ := json.Marshal(map[string]string{"user": user, "name": user, "channels": channels})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.BaseURL+"/local-issuer/token", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("mint token: status %d %s: %v", resp.StatusCode, out.Error, err)
	}
	return out.Token, nil
}
