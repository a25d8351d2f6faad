package isolation

import (
	"testing"
)

const sampleJSON = `{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
{"table": {"family": "bridge", "name": "weave-switch-weave", "handle": 3}},
{"chain": {"family": "bridge", "table": "weave-switch-weave", "name": "in-vwsa", "handle": 1}},
{"rule": {"family": "bridge", "table": "weave-switch-weave", "chain": "in-vwsa", "handle": 9, "comment": "spoofed MAC",
  "expr": [{"match": {"op": "!=", "left": {"payload": {"protocol": "ether", "field": "saddr"}}, "right": "02:00:00:00:00:0a"}},
           {"counter": {"packets": 3, "bytes": 180}}, {"drop": null}]}},
{"rule": {"family": "bridge", "table": "weave-switch-weave", "chain": "in-vwsa", "handle": 10, "expr": [{"return": null}]}},
{"rule": {"family": "bridge", "table": "weave-switch-weave", "chain": "in-vwsa", "handle": 12, "comment": "spoofed address or protocol",
  "expr": [{"counter": {"packets": 5, "bytes": 420}}, {"drop": null}]}},
{"rule": {"family": "bridge", "table": "weave-switch-weave", "chain": "out-vwsa", "handle": 14, "comment": "other application",
  "expr": [{"counter": {"packets": 7, "bytes": 588}}, {"drop": null}]}},
{"rule": {"family": "bridge", "table": "weave-switch-weave", "chain": "forward", "handle": 20, "expr": [{"vmap": {}}]}}
]}`

func TestParseDrops(t *testing.T) {
	got, err := ParseDrops([]byte(sampleJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := Drops{SpoofedMAC: 3, Spoofed: 5, OtherApplication: 7}
	if len(got) != 1 || got["vwsa"] != want {
		t.Errorf("ParseDrops = %+v, want map[vwsa:%+v]", got, want)
	}
	if _, err := ParseDrops([]byte(`{"nftables": [`)); err == nil {
		t.Error("truncated JSON: no error")
	}
}

// FuzzParseDrops: any input either fails or yields counts for ports
// named by in-/out- chains; it never panics.
func FuzzParseDrops(f *testing.F) {
	f.Add([]byte(sampleJSON))
	f.Add([]byte(`{"nftables": []}`))
	f.Add([]byte(`{"nftables": [{"rule": {"chain": "in-", "expr": [{"counter": {"packets": -1}}]}}]}`)) // negative count
	f.Add([]byte(`{"nftables": [{"rule": null}]}`))
	f.Add([]byte(`{"nftables": [`)) // truncated
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseDrops(b)
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with a result %v", err, got)
			}
			return
		}
		if got == nil {
			t.Fatal("nil map without error")
		}
	})
}
