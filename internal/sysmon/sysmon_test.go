package sysmon

import (
	"slices"
	"testing"
)

func TestEnv(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		need bool
	}{
		{[]string{"PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=" + Setting}, true},
		{[]string{"GODEBUG=", "A=1"}, []string{"GODEBUG=" + Setting, "A=1"}, true},
		{[]string{"GODEBUG=madvdontneed=1"}, []string{"GODEBUG=madvdontneed=1," + Setting}, true},
		{[]string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
		{[]string{"GODEBUG=x=1,schedtrace=5"}, []string{"GODEBUG=x=1,schedtrace=5"}, false},
		{[]string{"GODEBUG=" + Setting}, []string{"GODEBUG=" + Setting}, false},
	} {
		got, need := Env(tc.in)
		if need != tc.need || !slices.Equal(got, tc.want) {
			t.Errorf("Env(%q) = %q, %v; want %q, %v", tc.in, got, need, tc.want, tc.need)
		}
	}
}
