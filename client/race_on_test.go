//go:build race

package client

// raceEnabled: the race detector slows every memory access several times,
// so timing targets are reported but not enforced under -race.
const raceEnabled = true
