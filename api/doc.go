// Package api holds the exported API of wschat's public packages, one file
// per package in the style of Go's own api/go1.N.txt: a line per exported
// identifier, compared with the source by TestAPI, so that every change to
// what importers see is a deliberate diff in review
// (`go test ./api -update` rewrites the files). TestDocComments checks that
// `go doc` has something to say about each of them.
package api
