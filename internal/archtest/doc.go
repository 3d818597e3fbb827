// Package archtest holds the architecture of the module as a test: which
// packages may import what, and why (in the manner of Tailscale's
// tstest/deptest). The rules are a table in architecture_test.go; the
// package graph they protect is drawn in docs/architecture.md. It has no
// non-test code.
package archtest
