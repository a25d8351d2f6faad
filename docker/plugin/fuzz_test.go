package plugin

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// FuzzRequests sends arbitrary bodies to every call: the answer is
// always the protocol's JSON, 200 or 500 with an error message, and
// decodeRequest accepts exactly one JSON value.
func FuzzRequests(f *testing.F) {
	seeds := []string{
		``,
		`{}`,
		`null`,
		`{"PoolID":"net:default","Address":"","Options":{"RequestAddressType":"com.docker.network.gateway"}}`,
		`{"PoolID":"app:web","Address":"10.40.1.5"}`,
		`{"AddressSpace":"weave-switch","Pool":"10.40.7.0/24","Options":{"app":"x"},"V6":false}`,
		`{"NetworkID":"n1","IPv4Data":[{"Pool":"10.32.0.0/13","Gateway":"10.32.0.1/13"}]}`,
		`{"NetworkID":"n1","EndpointID":"0123456789abcdef","Interface":{"Address":"10.32.0.2/13"}}`,
		`{"NetworkID":"n1","EndpointID":"0123456789abcdef","SandboxKey":"/x"}`,
		`{"PoolID":"net:10.40.7.0/24","Address":"10.40.7.300"}`, // bad address
		`{"NetworkID":"n1","IPv4Data":[{"Pool":"zz"}]}`,         // bad pool
		`{"PoolID":`, // truncated
		`{} {}`,      // two values
		`[1,2]`,      // wrong type
	}
	methods := slices.Sorted(maps.Keys(New(Config{}).handlers()))
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, m uint8, body []byte) {
		r := newRig(t, "")
		method := methods[int(m)%len(methods)]
		// Give the calls something to find.
		r.createNetwork("n1", requestPoolRequest{})
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, httptest.NewRequest("POST", "/"+method, bytes.NewReader(body)))
		if w.Header().Get("Content-Type") != ContentType {
			t.Fatalf("%s: content type %q", method, w.Header().Get("Content-Type"))
		}
		switch w.Code {
		case http.StatusOK:
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s: invalid JSON %q", method, w.Body)
			}
		case http.StatusInternalServerError:
			var e errorResponse
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Err == "" {
				t.Fatalf("%s: error body %q", method, w.Body)
			}
		default:
			t.Fatalf("%s: status %d", method, w.Code)
		}
		var v map[string]any
		if err := decodeRequest(body, &v); err == nil && len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) {
			t.Fatalf("decodeRequest accepted invalid JSON %q", body)
		}
	})
}
