//go:build race

package sleeve

// raceEnabled reports whether the race detector is on: it makes sync.Pool
// (used by x/net for sendmmsg scratch) drop items at random, so allocation
// counts are meaningless.
const raceEnabled = true
