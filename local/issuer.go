package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/wschat/wschat/internal/localissuer"
)

// issuerPath is where the local issuer is mounted on the emulator's port; its
// URL (the tokens' "iss") is http://127.0.0.1:PORT/local-issuer.
const issuerPath = "/local-issuer"

// issuerKeyFile is where the key is kept, relative to the module root, so a
// restart keeps the key and tokens minted before it. `make token` does not
// read it: it asks the emulator on PORT (POST /local-issuer/token).
const issuerKeyFile = localissuer.DefaultKeyFile

// localAudience is the "aud" of local tokens.
const localAudience = "wschat-local"

// localIssuer is what the emulator needs from the issuer.
type localIssuer interface {
	URL() string
	Audience() string
	JWKSURL() string
	TokenUse() string
	Handler() http.Handler
}

type issuer struct{ *localissuer.Issuer }

func (issuer) TokenUse() string { return localissuer.TokenUse }

// startIssuer reuses the saved key when there is one, so tokens minted before
// a restart stay valid, and saves it with the current issuer URL.
func startIssuer(cfg *config, endpoint string) (localIssuer, error) {
	url := "http://" + endpoint + issuerPath
	iss, err := localissuer.LoadKey(cfg.issuerKey, url, localAudience)
	if err != nil {
		if !errors.Is(err, localissuer.ErrNoKeyFile) {
			fmt.Fprintf(os.Stderr, "local issuer: %v; making a new key\n", err)
		}
		if iss, err = localissuer.New(url, localAudience); err != nil {
			return nil, err
		}
	}
	if err := iss.SaveKey(cfg.issuerKey); err != nil {
		return nil, fmt.Errorf("save the local issuer key: %w", err)
	}
	return issuer{iss}, nil
}
