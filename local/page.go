package main

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
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

// mountPage serves the chat page at / and its files under /local/.
func mountPage(mux *http.ServeMux, cfg pageConfig) {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	files := http.FileServerFS(sub)
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /local/", http.StripPrefix("/local", files))
	mux.HandleFunc("GET /local/config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(cfg)
	})
}
