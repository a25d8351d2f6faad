// Package frame holds the value types shared by the data path: Ethernet MAC
// addresses, 48-bit peer names, the Ethernet header view and the Batch that
// carries frames through every stage (TAP, switch, transport).
//
// It is a leaf package: switch/ and transport/ both import it and never each
// other. Nothing here allocates per frame.
package frame
