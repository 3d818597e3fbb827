package main

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/wschat/wschat/internal/sigv4"
	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/httpapi"
	"github.com/wschat/wschat/local/lambda"
)

// localCredentials are the only credentials the emulator accepts on AWS_IAM
// routes and on @connections; the functions get the same pair from
// lambdaenv (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY=local), so their
// @connections calls verify, and the publisher uses them by default.
var localCredentials = sigv4.Local

// localAccount and localCaller are who a verified request comes from.
const (
	localAccount = "000000000000"
	localCaller  = "arn:aws:iam::000000000000:user/wschat-local"
)

// httpAPIPrefix is where HTTP APIs are served on the emulator's port.
const httpAPIPrefix = template.HTTPAPIPrefix

func (e *session) verifier() *sigv4.Verifier {
	return &sigv4.Verifier{Creds: localCredentials, Region: e.cfg.region, Service: "execute-api"}
}

// mountHTTPAPIs serves each HTTP API of the template under
// /@http/<stage> and returns the base URLs for the banner.
func (e *session) mountHTTPAPIs(mux *http.ServeMux) []string {
	var urls []string
	for _, api := range e.stack.HTTPAPIs {
		prefix := httpAPIPrefix + "/" + api.Stage
		if api.Stage == "$default" {
			prefix = httpAPIPrefix
		}
		var routes []*httpapi.Route
		for _, r := range api.Routes {
			routes = append(routes, &httpapi.Route{Key: r.Key, Method: r.Method, Path: r.Path,
				IAM: r.AuthorizationType == "AWS_IAM", Integration: e.functions[r.Function]})
		}
		cfg := httpapi.Config{
			APIID: api.ID, Stage: api.Stage, Region: e.cfg.region, AccountID: localAccount, Prefix: prefix,
			Routes: routes, Verifier: e.verifier(), CallerARN: localCaller,
			Log: slog.New(slog.NewTextHandler(lambda.NewPrefixWriter(e.out, "[http] "), &slog.HandlerOptions{ReplaceAttr: dropTime})),
		}
		if t := api.Throttle.Default; t != nil {
			cfg.Rate, cfg.Burst = t.Rate, t.Burst
		}
		mux.Handle(prefix+"/", httpapi.New(cfg))
		urls = append(urls, "http://"+e.endpoint+prefix)
	}
	return urls
}

// signedConnections wraps the stage's handler: @connections calls must be
// SigV4-signed with the local credentials, as on AWS (403 otherwise); the
// WebSocket upgrade is not.
func (e *session) signedConnections(next http.Handler) http.Handler {
	v := e.verifier()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/@connections/") {
			next.ServeHTTP(w, r)
			return
		}
		body, err := httpapi.ReadBody(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := v.Verify(r, body); err != nil {
			httpapi.Deny(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// httpBanner is the banner's lines for the HTTP APIs and the credentials
// that sign requests to them and to @connections.
func (e *session) httpBanner() string {
	var b strings.Builder
	for _, u := range e.httpURLs {
		b.WriteString("  HTTP API    " + u + "  (AWS_IAM: make publish PORT=" + portOf(e.endpoint) + " CHANNEL=general TEXT=hi)\n")
	}
	b.WriteString("  SigV4       access key " + localCredentials.AccessKeyID + ", secret " + localCredentials.SecretAccessKey +
		", region " + e.cfg.region + " (HTTP API and @connections refuse anything else with 403)\n")
	return b.String()
}
