package reassembly

import "testing"

func TestBits(t *testing.T) {
	b := make([]uint64, 4)
	setBits(b, 3, 70)
	for _, tt := range []struct {
		lo, hi    int
		some, all bool
	}{
		{0, 3, false, false},
		{0, 4, true, false},
		{3, 70, true, true},
		{63, 65, true, true},
		{69, 71, true, false},
		{70, 200, false, false},
		{0, 256, true, false},
	} {
		if some, all := bitsSet(b, tt.lo, tt.hi); some != tt.some || all != tt.all {
			t.Errorf("bitsSet(%d, %d) = %v, %v; want %v, %v", tt.lo, tt.hi, some, all, tt.some, tt.all)
		}
	}
	setBits(b, 0, 256)
	if _, all := bitsSet(b, 0, 256); !all {
		t.Error("setBits(0, 256) left bits clear")
	}
	// Against a bit-by-bit reference.
	ref := func(b []uint64, lo, hi int) (some, all bool) {
		all = true
		for i := lo; i < hi; i++ {
			set := b[i>>6]&(1<<(i&63)) != 0
			some, all = some || set, all && set
		}
		return some, all
	}
	for lo := range 200 {
		for hi := lo + 1; hi <= 256; hi += 7 {
			b := make([]uint64, 4)
			setBits(b, 70, 130)
			setBits(b, 191, 192)
			s1, a1 := bitsSet(b, lo, hi)
			if s2, a2 := ref(b, lo, hi); s1 != s2 || a1 != a2 {
				t.Fatalf("bitsSet(%d, %d) = %v, %v; reference %v, %v", lo, hi, s1, a1, s2, a2)
			}
			setBits(b, lo, hi)
			if _, all := ref(b, lo, hi); !all {
				t.Fatalf("setBits(%d, %d) left bits clear", lo, hi)
			}
			if some, _ := ref(b, 0, lo); some && lo <= 70 {
				t.Fatalf("setBits(%d, %d) set bits below %d", lo, hi, lo)
			}
		}
	}
}
