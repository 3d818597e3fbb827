package localissuer

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"time"
)

// maxTokenRequest bounds a POST /token body.
const maxTokenRequest = 4 << 10

// JWKSHandler serves the public key set as JSON.
func (i *Issuer) JWKSHandler() http.Handler {
	body := i.JWKS()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
}

// Handler serves, relative to the issuer URL:
//
//	GET  /.well-known/jwks.json              the public key set
//	GET  /.well-known/openid-configuration   discovery: issuer, jwks_uri, token_endpoint
//	POST /token                              mint: form user=ann[&name=Ann][&ttl=30s], or
//	                                         JSON {"user":"ann","name":"Ann","ttl":"30s"};
//	                                         answers {"token":"...","expiresIn":3600}
//
// It sets no CORS headers: serve it from the same origin as the sign-in
// page. Without CORS a foreign web page can make the browser POST /token but
// cannot read the token back.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", i.JWKSHandler())
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("POST /token", i.serveToken)
	return mux
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.url,
		"jwks_uri":                              i.JWKSURL(),
		"token_endpoint":                        i.url + "/token",
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
	})
}

type tokenRequest struct {
	User string `json:"user"`
	Name string `json:"name"`
	// Channels, when present, becomes the token's channels claim.
	Channels *string `json:"channels"`
	// TTL is the token's lifetime, a Go duration from 1s to 24h (default
	// 1h): short-lived tokens let a developer watch expiry and renewal.
	TTL string `json:"ttl"`
	// RawSub mints User as the sub even where the user id rule refuses
	// it (MintRawSub): to see what $connect does with another issuer's sub.
	RawSub bool `json:"rawSub"`
}

// maxTTL bounds a minted token's lifetime.
const maxTTL = 24 * time.Hour

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	var req tokenRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "body is not a JSON object like {\"user\":\"ann\"}")
			return
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, "body too large")
				return
			}
			writeError(w, http.StatusBadRequest, "cannot parse form")
			return
		}
		req = tokenRequest{User: r.PostForm.Get("user"), Name: r.PostForm.Get("name"), TTL: r.PostForm.Get("ttl")}
		if r.PostForm.Has("channels") {
			ch := r.PostForm.Get("channels")
			req.Channels = &ch
		}
	default:
		writeError(w, http.StatusUnsupportedMediaType, "send application/json or application/x-www-form-urlencoded")
		return
	}
	ttl := defaultTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d < time.Second || d > maxTTL {
			writeError(w, http.StatusBadRequest, "ttl must be a Go duration from 1s to 24h, such as 30s")
			return
		}
		ttl = d
	}
	var tok string
	var err error
	switch {
	case req.RawSub && req.Channels == nil:
		tok, err = i.MintRawSub(req.User, req.Name, ttl)
	case req.RawSub:
		err = errors.New("rawSub and channels do not go together")
	case req.Channels != nil:
		tok, err = i.MintWithChannels(req.User, req.Name, *req.Channels, ttl)
	default:
		tok, err = i.Mint(req.User, req.Name, ttl)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"token":     tok,
		"tokenType": "Bearer",
		"expiresIn": int(ttl / time.Second),
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
