package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/docker"
)

func TestParseWeaveCIDR(t *testing.T) {
	pp := netip.MustParsePrefix
	tests := []struct {
		name    string
		in      string
		want    *want
		wantErr bool
	}{
		{"empty: automatic", "", &want{}, false},
		{"blank: automatic", "  ", &want{}, false},
		{"none", "none", nil, false},
		{"one cidr", "10.32.1.5/12", &want{cidrs: []netip.Prefix{pp("10.32.1.5/12")}}, false},
		{"several", "net:10.32.4.0/24 10.32.1.5/12  app:web net:default",
			&want{cidrs: []netip.Prefix{pp("10.32.1.5/12")}, specs: []string{"net:10.32.4.0/24", "app:web", "net:default"}}, false},
		{"none among others is an error", "none 10.32.1.5/12", nil, true},
		{"no prefix length", "10.32.1.5", nil, true},
		{"ipv6", "fd00::1/64", nil, true},
		{"garbage", "web", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWeaveCIDR(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseWeaveCIDR(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), EnvVar) {
					t.Errorf("error %q does not name %s", err, EnvVar)
				}
				return
			}
			if !cmp.Equal(got, tt.want, cmp.AllowUnexported(want{}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })) {
				t.Errorf("parseWeaveCIDR(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeCreate(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		cidr, mode string
		set        bool
		wantErr    bool
	}{
		{"no env", `{"Image":"busybox"}`, "", "", false, false},
		{"env without it", `{"Env":["A=1","WEAVE_CIDRX=2"]}`, "", "", false, false},
		{"env with it", `{"Env":["A=1","WEAVE_CIDR=10.32.1.5/12"],"HostConfig":{"NetworkMode":"bridge"}}`, "10.32.1.5/12", "bridge", true, false},
		{"last one wins", `{"Env":["WEAVE_CIDR=none","WEAVE_CIDR=app:a"]}`, "app:a", "", true, false},
		{"empty value", `{"Env":["WEAVE_CIDR="]}`, "", "", true, false},
		{"field names fold case as the daemon's do", `{"env":["WEAVE_CIDR=none"],"hostconfig":{"networkmode":"host"}}`, "none", "host", true, false},
		{"null host config", `{"HostConfig":null}`, "", "", false, false},
		{"not json", `{"Env":`, "", "", false, true},
		{"env not a list", `{"Env":"WEAVE_CIDR=none"}`, "", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cidr, set, mode, err := decodeCreate([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if cidr != tt.cidr || set != tt.set || mode != tt.mode {
				t.Errorf("decodeCreate = %q, %v, %q; want %q, %v, %q", cidr, set, mode, tt.cidr, tt.set, tt.mode)
			}
		})
	}
}

// fakeDaemon is the daemon interface over a map of networks, recording
// the calls made.
type fakeDaemon struct {
	drivers    map[string]string
	connectErr error
	calls      []string
}

func (d *fakeDaemon) networkDriver(_ context.Context, name string) (string, error) {
	d.calls = append(d.calls, "inspect "+name)
	drv, ok := d.drivers[name]
	if !ok {
		return "", errors.New("network " + name + " not found")
	}
	return drv, nil
}

func (d *fakeDaemon) connect(_ context.Context, net, id string, addr netip.Addr, extra []netip.Prefix) error {
	d.calls = append(d.calls, "connect "+net+" "+id+" "+addr.String()+" "+joinPrefixes(extra))
	return d.connectErr
}

func (d *fakeDaemon) ensureNetwork(_ context.Context, name string, subnet netip.Prefix) error {
	d.calls = append(d.calls, "ensure "+name+" "+subnet.String())
	return nil
}

func (d *fakeDaemon) remove(_ context.Context, id string) error {
	d.calls = append(d.calls, "remove "+id)
	return nil
}

func (d *fakeDaemon) close() error { return nil }

// fakeAddresses hands out addresses from 10.32.0.0/13, counting up, and
// the explicit ones as given.
type fakeAddresses struct {
	next   netip.Addr
	held   map[string][]netip.Prefix
	err    error
	freed  []string
	assign []string
}

func newFakeAddresses() *fakeAddresses {
	return &fakeAddresses{next: netip.MustParseAddr("10.32.0.1"), held: map[string][]netip.Prefix{}}
}

func (a *fakeAddresses) Assign(_ context.Context, key string, cidrs []netip.Prefix, specs []string) ([]netip.Prefix, func(), error) {
	a.assign = append(a.assign, key)
	if a.err != nil {
		return nil, nil, a.err
	}
	out := slices.Clone(cidrs)
	if len(cidrs) == 0 && len(specs) == 0 {
		specs = []string{"net:default"}
	}
	for range specs {
		out = append(out, netip.PrefixFrom(a.next, 13))
		a.next = a.next.Next()
	}
	a.held[key] = out
	return out, func() { delete(a.held, key) }, nil
}

func (a *fakeAddresses) Release(key string) []netip.Addr {
	a.freed = append(a.freed, key)
	var out []netip.Addr
	for _, p := range a.held[key] {
		out = append(out, p.Addr())
	}
	delete(a.held, key)
	return out
}

func newTestService(t *testing.T) (*Service, *fakeDaemon, *fakeAddresses) {
	t.Helper()
	addrs := newFakeAddresses()
	s, err := New(Config{Socket: filepath.Join(t.TempDir(), "docker.sock"), DockerHost: "unix:///nonexistent/docker.sock", Addresses: addrs})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{drivers: map[string]string{"weave": docker.DriverName, "other": docker.DriverName, "mynet": "bridge"}}
	s.daemon = d
	t.Cleanup(func() { s.Close() })
	return s, d, addrs
}

func TestPlanCreate(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		rewrite bool
		wantErr bool
	}{
		{"default network, no WEAVE_CIDR", `{"Image":"i"}`, true, false},
		{"bridge", `{"Env":["WEAVE_CIDR=10.32.1.5/12"],"HostConfig":{"NetworkMode":"bridge"}}`, true, false},
		{"default", `{"HostConfig":{"NetworkMode":"default"}}`, true, false},
		{"none in WEAVE_CIDR", `{"Env":["WEAVE_CIDR=none"]}`, false, false},
		{"host", `{"HostConfig":{"NetworkMode":"host"}}`, false, false},
		{"network none", `{"HostConfig":{"NetworkMode":"none"}}`, false, false},
		{"container:X", `{"HostConfig":{"NetworkMode":"container:abc"}}`, false, false},
		{"the weave network", `{"HostConfig":{"NetworkMode":"weave"}}`, false, false},
		{"another network of our driver", `{"HostConfig":{"NetworkMode":"other"}}`, false, false},
		{"a user network of docker's bridge driver", `{"HostConfig":{"NetworkMode":"mynet"}}`, true, false},
		{"a network that does not exist", `{"HostConfig":{"NetworkMode":"nope"}}`, false, false},
		{"bad WEAVE_CIDR", `{"Env":["WEAVE_CIDR=10.32.1.5"]}`, false, true},
		{"bad WEAVE_CIDR with host network still refused", `{"Env":["WEAVE_CIDR=x"],"HostConfig":{"NetworkMode":"host"}}`, false, true},
		{"body that is not json: the daemon answers", `nope`, false, false},
	}
	s, _, _ := newTestService(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.planCreate(context.Background(), []byte(tt.body))
			if (err != nil) != tt.wantErr || (w != nil) != tt.rewrite {
				t.Errorf("planCreate(%s) = %+v, %v; want rewrite %v, error %v", tt.body, w, err, tt.rewrite, tt.wantErr)
			}
		})
	}
}

const testID = "4f1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff0"

// createResponse is the daemon's answer to a create whose request
// carried w.
func createResponse(code int, body string, w *want) *http.Response {
	req := httptest.NewRequest(http.MethodPost, "http://docker/v1.41/containers/create", nil)
	if w != nil {
		req = req.WithContext(context.WithValue(req.Context(), wantKey{}, w))
	}
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader(body)), Request: req, Header: http.Header{}}
}

func TestModifyResponse(t *testing.T) {
	created := `{"Id":"` + testID + `","Warnings":[]}`
	key := docker.ContainerKey(testID)
	t.Run("automatic address", func(t *testing.T) {
		s, d, a := newTestService(t)
		resp := createResponse(http.StatusCreated, created, &want{})
		if err := s.modifyResponse(resp); err != nil {
			t.Fatal(err)
		}
		if want := []string{"connect weave " + testID + " 10.32.0.1 "}; !slices.Equal(d.calls, want) {
			t.Errorf("daemon calls %q, want %q", d.calls, want)
		}
		if got := a.held[key]; len(got) != 1 {
			t.Errorf("held under %s: %v", key, got)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != created {
			t.Errorf("the client gets %q, want the daemon's %q", b, created)
		}
	})
	t.Run("several addresses: the first preferred, the others in DriverOpts", func(t *testing.T) {
		s, d, _ := newTestService(t)
		w, err := parseWeaveCIDR("10.32.1.5/12 app:web")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.modifyResponse(createResponse(http.StatusCreated, created, w)); err != nil {
			t.Fatal(err)
		}
		if want := []string{"connect weave " + testID + " 10.32.1.5 10.32.0.1/13"}; !slices.Equal(d.calls, want) {
			t.Errorf("daemon calls %q, want %q", d.calls, want)
		}
	})
	t.Run("first address outside the default network's subnet: the network of its own subnet", func(t *testing.T) {
		s, d, _ := newTestService(t)
		s.cfg.Subnet = netip.MustParsePrefix("10.32.0.0/13")
		w, err := parseWeaveCIDR("10.40.3.7/24")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.modifyResponse(createResponse(http.StatusCreated, created, w)); err != nil {
			t.Fatal(err)
		}
		want := []string{"ensure weave-10.40.3.0-24 10.40.3.0/24", "connect weave-10.40.3.0-24 " + testID + " 10.40.3.7 "}
		if !slices.Equal(d.calls, want) {
			t.Errorf("daemon calls %q, want %q", d.calls, want)
		}
	})
	t.Run("not planned or not created: untouched", func(t *testing.T) {
		s, d, a := newTestService(t)
		for _, resp := range []*http.Response{
			createResponse(http.StatusCreated, created, nil),
			createResponse(http.StatusNotFound, `{"message":"No such image: x"}`, &want{}),
		} {
			if err := s.modifyResponse(resp); err != nil {
				t.Error(err)
			}
		}
		if len(d.calls) != 0 || len(a.assign) != 0 {
			t.Errorf("calls %q, assigns %q; want none", d.calls, a.assign)
		}
	})
	t.Run("address taken: container removed, 400", func(t *testing.T) {
		s, d, a := newTestService(t)
		a.err = &api.BadRequestError{Err: alloc.ErrInUse}
		err := s.modifyResponse(createResponse(http.StatusCreated, created, &want{}))
		var se *statusError
		if !errors.As(err, &se) || se.code != http.StatusBadRequest || !errors.Is(err, alloc.ErrInUse) {
			t.Fatalf("error = %v, want a 400 wrapping ErrInUse", err)
		}
		if want := []string{"remove " + testID}; !slices.Equal(d.calls, want) {
			t.Errorf("daemon calls %q, want %q", d.calls, want)
		}
	})
	t.Run("connect fails: container removed, addresses released, 500", func(t *testing.T) {
		s, d, a := newTestService(t)
		d.connectErr = errors.New("network weave not found")
		err := s.modifyResponse(createResponse(http.StatusCreated, created, &want{}))
		var se *statusError
		if !errors.As(err, &se) || se.code != http.StatusInternalServerError || !strings.Contains(err.Error(), "network weave not found") {
			t.Fatalf("error = %v, want a 500 with the daemon's reason", err)
		}
		if len(d.calls) != 2 || d.calls[1] != "remove "+testID {
			t.Errorf("daemon calls %q, want connect then remove", d.calls)
		}
		if len(a.held) != 0 || !slices.Equal(a.freed, []string{key}) {
			t.Errorf("held %v, freed %q; want %s released", a.held, a.freed, key)
		}
	})
	t.Run("answer without an ID", func(t *testing.T) {
		s, d, a := newTestService(t)
		err := s.modifyResponse(createResponse(http.StatusCreated, `{"Warnings":[]}`, &want{}))
		if err == nil || len(d.calls) != 0 || len(a.assign) != 0 {
			t.Errorf("error %v, calls %q, assigns %q; want an error and nothing done", err, d.calls, a.assign)
		}
	})
}

// TestServeCreateRefused: the creates the proxy answers itself, without
// reaching the daemon (whose socket does not exist here).
func TestServeCreateRefused(t *testing.T) {
	s, _, _ := newTestService(t)
	s.cfg.MaxBody = 64
	tests := []struct {
		name string
		body string
		code int
	}{
		{"bad WEAVE_CIDR", `{"Env":["WEAVE_CIDR=bogus"]}`, http.StatusBadRequest},
		{"body too large", `{"Env":["` + strings.Repeat("A", 100) + `"]}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1.41/containers/create", strings.NewReader(tt.body)))
			var e struct{ Message string }
			if rec.Code != tt.code || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Message == "" {
				t.Errorf("answer %d %q, want %d with Docker's error JSON", rec.Code, rec.Body, tt.code)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ method, path, class string }{
		{"POST", "/v1.41/containers/create", classCreate},
		{"POST", "/containers/create", classCreate},
		{"GET", "/v1.41/containers/create", classOther},
		{"POST", "/v1.41/containers/abc/start", classStart},
		{"POST", "/v1.41/containers/abc/attach", classAttach},
		{"POST", "/v1.41/exec/abc/start", classExec},
		{"GET", "/v1.41/containers/abc/logs", classLogs},
		{"GET", "/v1.41/events", classEvents},
		{"GET", "/_ping", classOther},
		{"POST", "/v1.41/containers/abc/attach/extra", classOther},
	}
	for _, tt := range tests {
		if got := classify(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.class {
			t.Errorf("classify(%s %s) = %s, want %s", tt.method, tt.path, got, tt.class)
		}
	}
}

func TestIsUpgrade(t *testing.T) {
	tests := []struct {
		conn, upgrade string
		want          bool
	}{
		{"Upgrade", "tcp", true},
		{"keep-alive, upgrade", "tcp", true},
		{"Upgrade", "", false},
		{"", "tcp", false},
		{"close", "tcp", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/containers/x/attach", nil)
		if tt.conn != "" {
			r.Header.Set("Connection", tt.conn)
		}
		if tt.upgrade != "" {
			r.Header.Set("Upgrade", tt.upgrade)
		}
		if got := isUpgrade(r); got != tt.want {
			t.Errorf("isUpgrade(Connection %q, Upgrade %q) = %v, want %v", tt.conn, tt.upgrade, got, tt.want)
		}
	}
}

func TestUpstream(t *testing.T) {
	tests := []struct{ host, netw, addr string }{
		{"unix:///var/run/docker.sock", "unix", "/var/run/docker.sock"},
		{"tcp://127.0.0.1:2375", "tcp", "127.0.0.1:2375"},
		{"ssh://me@host", "", ""},
		{"unix://", "", ""},
		{"tcp://", "", ""},
	}
	for _, tt := range tests {
		netw, addr, err := upstream(tt.host)
		if netw != tt.netw || addr != tt.addr || (err != nil) != (tt.netw == "") {
			t.Errorf("upstream(%q) = %q, %q, %v", tt.host, netw, addr, err)
		}
	}
}
