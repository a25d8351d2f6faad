//go:build race

package alloc

// raceEnabled: the race detector slows the simulation ~10×; it runs a
// smaller one (the full one runs in the plain `go test`).
const raceEnabled = true
