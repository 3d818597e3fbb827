package main

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"

	clientjs "github.com/wschat/wschat/client/js"
)

//go:embed web
var webFiles embed.FS

// pageConfig is what the chat page needs to know, served as /local/config.json.
type pageConfig struct {
	WebSocketURL string `json:"webSocketUrl"`
	TokenURL     string `json:"tokenUrl"`
	Stage        string `json:"stage"`
	Environment  string `json:"environment"`
}

// mountPage serves the chat page at /, its files under /local/, and the
// JavaScript client it is built on under /client/ (wschat.js, wschat.d.ts).
func mountPage(mux *http.ServeMux, cfg pageConfig) {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	files := noCache(http.FileServerFS(sub))
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /local/", http.StripPrefix("/local", files))
	mux.Handle("GET /client/", http.StripPrefix("/client", noCache(http.FileServerFS(clientjs.Files))))
	mux.HandleFunc("GET /local/config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(cfg)
	})
}

// noCache makes the browser revalidate every file: embedded files carry no
// modification time, and a page cached across a rebuild of the emulator
// would otherwise run an old app.js against a new wschat.js.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
