package sleeve

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// referenceValid is a slow, obviously correct statement of when a datagram
// is valid: the right version and only known flags; then, for a fragment,
// its headers and at least one byte, with offset+len(data) <= total and
// total in [14, MaxSuperFrameSize]; otherwise one or more frames, each
// with a length in [14, MaxFrameSize] that ends inside the datagram, and
// nothing after the last one.
func referenceValid(d []byte) bool {
	if len(d) < HeaderSize || d[0] != Version || d[1]&^(FlagGSO|FlagFragment) != 0 {
		return false
	}
	gso := 0
	if d[1]&FlagGSO != 0 {
		gso = GSOSize
	}
	if d[1]&FlagFragment != 0 {
		hl := HeaderSize + FragmentHeaderSize + gso
		if len(d) <= hl {
			return false
		}
		off := uint64(binary.BigEndian.Uint32(d[HeaderSize+16:]))
		total := uint64(binary.BigEndian.Uint32(d[HeaderSize+20:]))
		return total >= frame.EthernetHeaderSize && total <= frame.MaxSuperFrameSize && off+uint64(len(d)-hl) <= total
	}
	frames := 0
	for rest := d[HeaderSize:]; len(rest) > 0; frames++ {
		if len(rest) < FrameHeaderSize+gso {
			return false
		}
		n := int(binary.BigEndian.Uint16(rest[12:14]))
		if n < frame.EthernetHeaderSize || n > frame.MaxFrameSize || FrameHeaderSize+gso+n > len(rest) {
			return false
		}
		rest = rest[FrameHeaderSize+gso+n:]
	}
	return frames > 0
}

// encodeFlags is encode with explicit flags (FlagGSO or not).
func encodeFlags(sender frame.PeerName, flags byte, frames []decoded) []byte {
	d := AppendHeaderFlags(nil, sender, flags)
	for _, f := range frames {
		if flags&FlagGSO != 0 {
			d = AppendFrameGSO(d, f.meta, f.fr)
		} else {
			d = AppendFrame(d, f.meta, f.fr)
		}
	}
	return d
}

// encodeFragment is AppendFragment with explicit flags (FlagGSO may be set
// with a zero GSO, which AppendFragment never does).
func encodeFragment(sender frame.PeerName, flags byte, f *Fragment) []byte {
	d := AppendHeaderFlags(nil, sender, flags)
	d = append(d, make([]byte, FragmentHeaderSize)...)
	putFragmentHeader(d[HeaderSize:], f)
	if flags&FlagGSO != 0 {
		d = append(d, make([]byte, GSOSize)...)
		f.Meta.GSO.PutWire(d[len(d)-GSOSize:])
	}
	return append(d, f.Data...)
}

func FuzzDecode(f *testing.F) {
	one := encode(peerA, []decoded{{frame.Meta{Src: peerB, Dst: peerC}, testFrame(60, 0)}})
	several := encode(peerA, []decoded{
		{frame.Meta{Src: peerB, Dst: peerC}, testFrame(14, 1)},
		{frame.Meta{Src: peerC}, testFrame(100, 2)},
		{frame.Meta{Src: peerA, Dst: peerB}, testFrame(1400, 3)},
	})
	withGSO := encodeFlags(peerA, FlagGSO, []decoded{
		{frame.Meta{Src: peerB, Dst: peerC, GSO: csumOnly}, testFrame(60, 1)},
		{frame.Meta{Src: peerC}, testFrame(100, 2)},
	})
	frag := AppendFragment(nil, peerA, &Fragment{Meta: frame.Meta{Src: peerB, Dst: peerC}, ID: 7, Offset: 1440, Total: 3000, Data: testFrame(1440, 4)})
	fragGSO := AppendFragment(nil, peerA, &Fragment{Meta: frame.Meta{Src: peerB, GSO: tcp4GSO}, ID: 8, Offset: 64000, Total: frame.MaxSuperFrameSize,
		Data: testFrame(frame.MaxSuperFrameSize-64000, 5)})
	f.Add(one)
	f.Add(several)
	f.Add(encode(peerA, []decoded{{frame.Meta{}, testFrame(frame.MaxFrameSize, 4)}}))
	f.Add(withGSO)
	f.Add(frag)
	f.Add(fragGSO)
	// Malformed seeds:
	f.Add(one[:5])                             // truncated header
	f.Add(append([]byte{2}, one[1:]...))       // bad version
	f.Add(append([]byte{1, 0x80}, one[2:]...)) // unknown flag (encryption)
	f.Add(one[:HeaderSize])                    // header and no frame
	f.Add(one[:HeaderSize+7])                  // truncated frame header
	f.Add(one[:len(one)-1])                    // length past end
	f.Add(append(bytes.Clone(one), 0, 0, 0))   // trailing bytes
	zero := bytes.Clone(one)                   // zero length
	binary.BigEndian.PutUint16(zero[HeaderSize+12:], 0)
	f.Add(zero)
	f.Add(append([]byte{1, FlagGSO}, one[2:]...))       // GSO flag without descriptors
	f.Add(withGSO[:HeaderSize+FrameHeaderSize+5])       // truncated GSO descriptor
	f.Add(frag[:HeaderSize+FragmentHeaderSize])         // fragment without data
	f.Add(append(bytes.Clone(frag), 0))                 // fragment past its total
	f.Add(append([]byte{1, FlagFragment}, frag[2:]...)) // fragment whose GSO flag is cleared
	past := bytes.Clone(fragGSO)                        // total past MaxSuperFrameSize
	binary.BigEndian.PutUint32(past[HeaderSize+20:], frame.MaxSuperFrameSize+1)
	f.Add(past)
	runt := bytes.Clone(frag) // total below an Ethernet header
	binary.BigEndian.PutUint32(runt[HeaderSize+20:], 13)
	f.Add(runt)

	f.Fuzz(func(t *testing.T, d []byte) {
		var got []decoded
		var sender frame.PeerName
		err := Decode(d, func(m frame.Meta, fr []byte) {
			sender = m.Via
			got = append(got, decoded{frame.Meta{Src: m.Src, Dst: m.Dst, GSO: m.GSO}, fr})
		})
		if valid := referenceValid(d); valid != (err == nil) {
			t.Fatalf("Decode error %v, reference says valid=%v", err, valid)
		}
		var r Reader
		rerr := r.Reset(d)
		if (rerr == nil) != (err == nil) {
			t.Fatalf("Reader.Reset %v, Decode %v", rerr, err)
		}
		if err != nil {
			if !errors.Is(err, transport.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if len(got) != 0 || r.More() {
				t.Fatalf("malformed datagram delivered %d frames", len(got))
			}
			if _, ok := r.Fragment(); ok {
				t.Fatal("malformed datagram has a fragment")
			}
			return
		}
		if fr, ok := r.Fragment(); ok {
			if len(got) != 0 || r.More() {
				t.Fatal("fragment datagram with frames")
			}
			if fr.Meta.Via != r.Sender() || len(fr.Data) == 0 || fr.Offset+len(fr.Data) > fr.Total || fr.Total > frame.MaxSuperFrameSize {
				t.Fatalf("fragment %+v out of bounds", fr)
			}
			if re := encodeFragment(r.Sender(), r.Flags(), &fr); !bytes.Equal(re, d) {
				t.Fatalf("fragment round trip:\n got %x\nwant %x", re, d)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("valid datagram with no frames")
		}
		for i, g := range got {
			if !validFrameSize(len(g.fr)) {
				t.Fatalf("frame %d: %d bytes out of bounds", i, len(g.fr))
			}
		}
		if re := encodeFlags(sender, d[1], got); !bytes.Equal(re, d) {
			t.Fatalf("round trip:\n got %x\nwant %x", re, d)
		}
		// The Reader sees the same frames.
		for i := 0; r.More(); i++ {
			m, fr, _ := r.Next()
			if m.Src != got[i].meta.Src || m.Dst != got[i].meta.Dst || m.GSO != got[i].meta.GSO || m.Via != sender || !bytes.Equal(fr, got[i].fr) {
				t.Fatalf("Reader frame %d differs from Decode's", i)
			}
		}
	})
}

// pattern returns the bytes of frame id of total bytes in FuzzReassembly:
// a fragment of it carries pattern bytes at its offset, so any frame that
// comes out must equal pattern(id, total) whatever was mixed in.
func pattern(id uint32, total int) []byte {
	b := make([]byte, total)
	for i := range b {
		b[i] = byte((uint32(i)*2654435761 ^ uint32(total)*40503 ^ id*97) >> 13)
	}
	return b
}

// FuzzReassembly feeds the reassembler random fragments (ids 0 to 15,
// with the clock jumping now and then), then a valid fragment set of frame
// 1000 in an order chosen by the input, with duplicates. Every frame that
// comes out must be the pattern of its id and length, the slot accounting
// must hold, and frame 1000 must come out exactly once, intact, when its
// last missing fragment arrives.
func FuzzReassembly(f *testing.F) {
	f.Add(uint32(5000), uint16(1200), []byte{3, 1, 4, 1, 5, 9, 2, 6}, []byte{})
	f.Add(uint32(frame.MaxSuperFrameSize), uint16(1430), []byte{0xff, 0, 0x80}, []byte{
		1, 0, 100, 0, 0, 0, 50, // id 1, total 114, [0, 51)
		1, 0, 100, 0, 51, 0, 62, // the rest
		0x82, 1, 0, 0, 0, 0, 10, // clock jump, id 2
	})
	f.Add(uint32(14), uint16(1), []byte{}, []byte{0x8f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, size uint32, per uint16, order, ops []byte) {
		ra, clk, _ := newTestReassembler(8)
		check := func() {
			if err := ra.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		}
		for ; len(ops) >= 7; ops = ops[7:] {
			if ops[0]&0x80 != 0 {
				clk.advance(600 * reassemblyTimeout / 1000)
				ra.Tick()
			}
			id := uint32(ops[0] & 15)
			total := frame.EthernetHeaderSize + int(binary.BigEndian.Uint16(ops[1:]))%3000
			off := int(binary.BigEndian.Uint16(ops[3:])) % total
			n := 1 + int(binary.BigEndian.Uint16(ops[5:]))%(total-off)
			want := pattern(id, total)
			fr := Fragment{Meta: superMeta, ID: id, Offset: off, Total: total, Data: want[off : off+n]}
			if got, meta, slot, ok := ra.add(fragFrom, &fr); ok {
				if !bytes.Equal(got, want) || meta != superMeta {
					t.Fatalf("frame %d of %d bytes came out wrong", id, total)
				}
				ra.Release(slot)
			}
			check()
		}

		total := frame.EthernetHeaderSize + int(size%(frame.MaxSuperFrameSize-frame.EthernetHeaderSize+1))
		p := max(1+int(per)%total, total/512+1) // at most 512 fragments
		want := pattern(1000, total)
		fs := cut(want, p, 1000, superMeta)
		perm := seq(len(fs))
		for i := len(perm) - 1; i > 0 && len(order) > 0; i-- { // Fisher-Yates, driven by order
			j := int(order[i%len(order)]) % (i + 1)
			perm[i], perm[j] = perm[j], perm[i]
		}
		delivered := 0
		for k, i := range perm {
			times := 1
			if len(order) > 0 && order[k%len(order)]&1 != 0 && k < len(perm)-1 {
				times = 2 // a duplicate, before the frame is complete
			}
			for range times {
				got, meta, slot, ok := ra.add(fragFrom, &fs[i])
				check()
				if !ok {
					continue
				}
				delivered++
				if k != len(perm)-1 {
					t.Fatalf("frame complete after %d of %d fragments", k+1, len(perm))
				}
				if !bytes.Equal(got, want) || meta != superMeta {
					t.Fatal("reassembled frame differs from the one sent")
				}
				ra.Release(slot)
			}
		}
		if delivered != 1 {
			t.Fatalf("frame delivered %d times", delivered)
		}
		check()
	})
}

// sealForTest seals the plaintext datagram plain (header and what follows
// it) with k, as Send does, and returns the encrypted datagram.
func sealForTest(k *sendKey, plain []byte) []byte {
	st := &sendState{arena: make([]byte, 0, len(plain)+EncryptionOverhead)}
	st.arena = append(st.arena[:CounterSize], plain...)
	st.arena = encryptedLayout(st.arena, 0)
	st.add(st.arena, dgram{})
	if err := st.seal(k); err != nil {
		panic(err)
	}
	return st.arena
}

// FuzzOpen feeds the encrypted-datagram opener random bytes d, and seals
// the plaintext datagram made of flags and body with counter ctr under the
// current or (during its grace) the previous key, then opens it. Random
// bytes must never panic; an opened datagram must be exactly the sealing
// of its plaintext at its counter, and never open twice; a sealed datagram
// must open to its plaintext, once, and not at all with any bit flipped.
// aes picks the cipher of every key: AES-256-GCM or ChaCha20-Poly1305.
func FuzzOpen(f *testing.F) {
	cur, prev := testKey("fuzz/cur"), testKey("fuzz/prev")
	frames := encode(peerA, []decoded{{frame.Meta{Src: peerA, Dst: peerB}, testFrame(60, 1)}})
	frag := AppendFragment(nil, peerA, &Fragment{Meta: frame.Meta{Src: peerA, GSO: tcp4GSO}, ID: 9, Offset: 0, Total: 3000, Data: testFrame(1400, 2)})
	seal := func(c Cipher, key [32]byte, ctr uint64, plain []byte) []byte {
		k := &sendKey{key: key, cipher: c, aead: newAEAD(c, key)}
		k.next.Store(ctr)
		return sealForTest(k, plain)
	}
	for _, aes := range []bool{false, true} {
		c := cipherOf(aes)
		f.Add(seal(c, cur, 0, frames), byte(0), []byte{}, uint64(0), uint16(0), aes)
		f.Add(seal(c, cur, 1<<40, frag), FlagFragment|FlagGSO, frag[HeaderSize:], uint64(7), uint16(1), aes)
		f.Add(seal(c, prev, 5, frames), byte(0), frames[HeaderSize:], uint64(maxCounter-1), uint16(100), aes)
		// Malformed seeds:
		sealed := seal(c, cur, 3, frames)
		f.Add(sealed[:HeaderSize+CounterSize+TagSize-1], byte(0), []byte{1}, uint64(0), uint16(0), aes) // too short for the tag
		f.Add(sealed[:len(sealed)-1], byte(0), []byte{1}, uint64(0), uint16(0), aes)                    // truncated tag
		other := bytes.Clone(sealed)                                                                    // another sender
		peerC.Put(other[2:])
		f.Add(other, byte(0), []byte{}, uint64(0), uint16(0), aes)
		f.Add(seal(c, testKey("wrong"), 3, frames), byte(0), []byte{}, uint64(0), uint16(0), aes) // wrong key
		f.Add(seal(cipherOf(!aes), cur, 3, frames), byte(0), []byte{}, uint64(0), uint16(0), aes) // the other cipher
	}

	out := make([]byte, MaxDatagramSize+1<<16)
	var nonce [12]byte
	// table returns keys for peerA: cur, and prev in its grace.
	table := func(t *testing.T, c Cipher) *keyTable {
		s, err := New(Config{Self: peerB, Encrypt: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetCipherKeys(peerA, netip.AddrPort{}, c, testKey("fuzz/send"), prev); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCipherKeys(peerA, netip.AddrPort{}, c, testKey("fuzz/send"), cur); err != nil {
			t.Fatal(err)
		}
		return s.keys.table.Load()
	}
	f.Fuzz(func(t *testing.T, d []byte, flags byte, body []byte, ctr uint64, flip uint16, aes bool) {
		c := cipherOf(aes)
		tb, now := table(t, c), time.Now()
		allowed := func(reason DropReason) bool {
			return reason == DropAuth || reason == DropNoKey || reason == DropReplay || reason == DropOversize
		}

		// Random bytes.
		in := bytes.Clone(d)
		p, reason, _ := tb.open(d, out, &nonce, now)
		if !bytes.Equal(d, in) {
			t.Fatal("open modified its input")
		}
		if reason != dropNone {
			if !allowed(reason) || p != nil {
				t.Fatalf("open: reason %v, %d bytes", reason, len(p))
			}
		} else {
			if len(p) != len(d)-EncryptionOverhead || p[1] != d[1]&^FlagEncrypted {
				t.Fatalf("opened %d bytes to %d, flags %#x", len(d), len(p), p[1])
			}
			plain := bytes.Clone(p)
			plain[1] = d[1] // sealing sets FlagEncrypted
			n := counterOf(d)
			if !bytes.Equal(seal(c, cur, n, plain), d) && !bytes.Equal(seal(c, prev, n, plain), d) {
				t.Fatal("opened a datagram that is not the sealing of its plaintext")
			}
			if _, reason, _ := tb.open(d, out, &nonce, now); reason != DropReplay {
				t.Fatalf("opened twice: %v", reason)
			}
		}

		// A datagram sealed here, opened with fresh windows.
		tb = table(t, c)
		if len(body) > MaxDatagramSize-HeaderSize-EncryptionOverhead {
			body = body[:MaxDatagramSize-HeaderSize-EncryptionOverhead]
		}
		plain := append(AppendHeaderFlags(nil, peerA, flags&^FlagEncrypted), body...)
		key := cur
		if flip&1 != 0 {
			key = prev
		}
		ctr %= maxCounter
		e := seal(c, key, ctr, plain)
		if len(e) != len(plain)+EncryptionOverhead || e[1] != plain[1]|FlagEncrypted || counterOf(e) != ctr {
			t.Fatalf("sealed %d bytes to %d, header %x", len(plain), len(e), e[:HeaderSize+CounterSize])
		}
		bad := bytes.Clone(e)
		bad[int(flip>>1)%len(bad)] ^= 1 << (flip % 8)
		if _, reason, _ := tb.open(bad, out, &nonce, now); reason == dropNone || !allowed(reason) {
			t.Fatalf("opened with a bit flipped: %v", reason)
		}
		p, reason, _ = tb.open(e, out, &nonce, now)
		if reason != dropNone || !bytes.Equal(p, plain) {
			t.Fatalf("round trip: %v, %d bytes of %d", reason, len(p), len(plain))
		}
		if _, reason, _ := tb.open(e, out, &nonce, now); reason != DropReplay {
			t.Fatalf("opened twice: %v", reason)
		}
	})
}

// cipherOf returns AES256GCM if aes, else ChaCha20Poly1305.
func cipherOf(aes bool) Cipher {
	if aes {
		return AES256GCM
	}
	return ChaCha20Poly1305
}
