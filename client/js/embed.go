// Package js holds the JavaScript client (wschat.js and its declarations)
// and embeds it, so that the local emulator serves the very module the
// tests check to its chat page instead of a copy that could drift.
package js

import "embed"

// Files holds wschat.js and wschat.d.ts at the root of the file system.
//
//go:embed wschat.js wschat.d.ts
var Files embed.FS
