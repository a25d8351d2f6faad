package kernel

// NullDatapath is the userspace-only "backend": it offloads nothing, so
// every frame crosses the router.
type NullDatapath struct{}

var _ Datapath = NullDatapath{}

// Name implements Datapath.
func (NullDatapath) Name() string { return "userspace" }

// Update implements Datapath: nothing to install.
func (NullDatapath) Update(*View) error { return nil }

// Stats implements Datapath.
func (NullDatapath) Stats() Stats { return Stats{} }

// Entries implements Datapath.
func (NullDatapath) Entries() []Entry { return nil }

// Close implements Datapath.
func (NullDatapath) Close() error { return nil }
