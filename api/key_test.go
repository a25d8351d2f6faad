package api

import "testing"

func TestCheckKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"cni:pods:0123abcd:eth0":           true,
		"cni:a":                            true,
		"cni:":                             false,
		"":                                 false,
		"docker:0123":                      false,
		"/run/netns/x":                     false,
		"cni:a b":                          false,
		"cni:a/b":                          false,
		"cni:a\x00":                        false,
		"cni:" + string(make([]byte, 600)): false,
	} {
		if err := CheckKey(key); (err == nil) != ok {
			t.Errorf("CheckKey(%q) = %v, want ok=%v", key, err, ok)
		}
	}
}

func FuzzCheckKey(f *testing.F) {
	f.Add("cni:pods:0123abcd:eth0")
	f.Add("cni:\xff")
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		for _, c := range []byte(key) {
			if c <= ' ' || c >= 0x7f || c == '/' {
				t.Fatalf("accepted %q", key)
			}
		}
	})
}
