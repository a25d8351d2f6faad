//go:build !race

package sleeve

const raceEnabled = false
