package frame

import "encoding/binary"

// CompleteChecksum finishes a partial checksum (GSOFlagNeedsCsum): the
// 16-bit field at CsumStart+CsumOffset holds the folded pseudo-header sum,
// and the one's complement of the sum over frame[CsumStart:] goes there.
// It reports false if the offsets do not fit the frame.
func CompleteChecksum(f []byte, g GSO) bool {
	start, off := int(g.CsumStart), int(g.CsumOffset)
	if start > len(f) || start+off+2 > len(f) {
		return false
	}
	sum := Checksum(f[start:], 0)
	binary.BigEndian.PutUint16(f[start+off:], ^sum)
	return true
}

// Checksum returns the folded 16-bit one's complement sum of b, added to
// initial (the Internet checksum before its final complement).
func Checksum(b []byte, initial uint16) uint16 {
	sum := uint64(initial)
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v >> 32
		sum += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
