// Package link holds the types where the control plane (gossip/mesh) and
// the data plane (router and the transports) meet: the neighbours the
// control plane hands to the data path (Peer), the routes it computes
// (Routes), what the data path reports back about each neighbour's link
// (Health), and the per-link keys the control handshake derives for the
// transports (Keys).
//
// It is a leaf: it imports only frame and the root transport package, so
// that the mesh, the router and every transport can share these types
// without importing one another.
package link
