//go:build !linux

package kernel

// SystemProbes: no kernel backend outside Linux.
func SystemProbes() Probes { return Probes{} }
