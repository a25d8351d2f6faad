package frame

// Meta is the overlay information that travels with each frame.
type Meta struct {
	// Src is the peer that captured the frame from its bridge. Switches
	// learn MACs from it, never from the underlay sender, so relayed frames
	// teach the right thing.
	Src PeerName
	// Dst is the peer the frame is for, or UnknownPeer for a frame that is
	// flooded (broadcast, multicast, unknown unicast).
	Dst PeerName
	// Via is the peer the frame was last received from (the previous hop);
	// UnknownPeer for frames captured locally. Set by transports on
	// receive, ignored on send.
	Via PeerName
	// Authenticated: the transport proved that Via sent the frame (the
	// sleeve opened its datagram with the key only Via shares with this
	// router). Set by transports on receive, ignored on send.
	Authenticated bool
	// GSO is the frame's offload information (checksum still to be done,
	// super-frame to be segmented). Transports carry it to the peer, which
	// hands it to its TAP. Zero for an ordinary frame.
	GSO GSO
}

// Batch carries up to Cap() frames through the data path. It is allocated
// once, with every buffer, and reused: nothing in a forwarding loop
// allocates. Frame i occupies Bufs[i][Offset : Offset+Sizes[i]]; the Offset
// bytes in front of it are headroom where a transport writes its headers
// without copying the frame.
//
// A Batch is not safe for concurrent use; a stage owns it until it hands
// it on.
type Batch struct {
	Bufs   [][]byte
	Sizes  []int
	Meta   []Meta
	Offset int
	// N is the number of valid frames, Bufs[:N].
	N int
}

// NewBatch allocates a batch of n buffers, each with offset bytes of
// headroom in front of room for a MaxFrameSize frame.
func NewBatch(n, offset int) *Batch { return NewBatchSize(n, offset, MaxFrameSize) }

// NewBatchSize is NewBatch with room for frames of up to size bytes (for
// example MaxSuperFrameSize, for a data path with TAP offloads).
func NewBatchSize(n, offset, size int) *Batch {
	b := &Batch{
		Bufs:   make([][]byte, n),
		Sizes:  make([]int, n),
		Meta:   make([]Meta, n),
		Offset: offset,
	}
	backing := make([]byte, n*(offset+size))
	for i := range b.Bufs {
		lo := i * (offset + size)
		b.Bufs[i] = backing[lo : lo+offset+size : lo+offset+size]
	}
	return b
}

// Cap returns the number of buffers.
func (b *Batch) Cap() int { return len(b.Bufs) }

// Frame returns frame i: Bufs[i][Offset:Offset+Sizes[i]].
func (b *Batch) Frame(i int) []byte { return b.Bufs[i][b.Offset : b.Offset+b.Sizes[i]] }

// Room returns the whole writable area for frame i (after the headroom).
func (b *Batch) Room(i int) []byte { return b.Bufs[i][b.Offset:] }
