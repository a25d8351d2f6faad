package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/docker"
)

type rig struct {
	t    *testing.T
	s    *Service
	h    http.Handler
	a    *fakeAddrs
	host *fakeHost
	eps  *fakeEndpoints
	fw   *fakeFirewall
}

func newRig(t *testing.T, stateFile string) *rig {
	a := newFakeAddrs()
	r := &rig{t: t, a: a, host: newFakeHost(a), eps: newFakeEndpoints(), fw: &fakeFirewall{}}
	r.s = New(Config{Sockets: []string{filepath.Join(t.TempDir(), "p.sock")}, Bridge: "weave", StateFile: stateFile,
		Addresses: r.a, Host: r.host, Endpoints: r.eps, Firewall: r.fw})
	r.h = r.s.Handler()
	return r
}

// call posts body to method and decodes the answer into out; it
// returns the error the driver reported ("" for none).
func (r *rig) call(method string, body any, out any) string {
	r.t.Helper()
	b, _ := json.Marshal(body)
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, httptest.NewRequest("POST", "/"+method, bytes.NewReader(b)))
	if ct := w.Header().Get("Content-Type"); ct != ContentType {
		r.t.Fatalf("%s: content type %q", method, ct)
	}
	if w.Code != http.StatusOK {
		var e errorResponse
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Err == "" || w.Code != http.StatusInternalServerError {
			r.t.Fatalf("%s: status %d, body %q", method, w.Code, w.Body)
		}
		return e.Err
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			r.t.Fatalf("%s: %v in %q", method, err, w.Body)
		}
	}
	return ""
}

func (r *rig) must(method string, body any, out any) {
	r.t.Helper()
	if e := r.call(method, body, out); e != "" {
		r.t.Fatalf("%s: %s", method, e)
	}
}

func (r *rig) keys() map[string][]netip.Prefix {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	out := map[string][]netip.Prefix{}
	for k, v := range r.a.keys {
		out[k] = v
	}
	return out
}

const (
	netID = "n1234567890abcdef"
	epID  = "e0123456789abcdef0123"
)

// createNetwork runs dockerd's sequence for `docker network create`.
func (r *rig) createNetwork(id string, pool requestPoolRequest) (poolID, gw string) {
	r.t.Helper()
	var pr requestPoolResponse
	r.must("IpamDriver.RequestPool", pool, &pr)
	var ga requestAddressResponse
	r.must("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pr.PoolID, Options: map[string]string{addressTypeOption: gatewayType}}, &ga)
	r.must("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: id, IPv4Data: []ipamData{{Pool: pr.Pool, Gateway: ga.Address}}}, nil)
	return pr.PoolID, ga.Address
}

func TestActivateAndCapabilities(t *testing.T) {
	r := newRig(t, "")
	var a activateResponse
	r.must("Plugin.Activate", nil, &a)
	if strings.Join(a.Implements, ",") != "NetworkDriver,IpamDriver" {
		t.Fatalf("implements %v", a.Implements)
	}
	var c networkCapabilities
	r.must("NetworkDriver.GetCapabilities", nil, &c)
	if c.Scope != "local" || c.ConnectivityScope != "global" {
		t.Fatalf("capabilities %+v", c)
	}
	if e := r.call("NetworkDriver.NoSuchCall", nil, nil); !strings.Contains(e, "unknown plugin call") {
		t.Fatalf("unknown call: %q", e)
	}
}

// TestNetworkLifecycle follows dockerd's calls for network create, run,
// rm and network rm, and checks that nothing is left.
func TestNetworkLifecycle(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "state.json"))
	poolID, gw := r.createNetwork(netID, requestPoolRequest{})
	if poolID != "net:default" || gw != "10.32.0.1/13" {
		t.Fatalf("pool %q gateway %q", poolID, gw)
	}
	if !r.host.masq[netip.MustParsePrefix(gw)] {
		t.Fatal("gateway not masqueraded")
	}
	if !r.fw.rules["weave"] {
		t.Fatal("no FORWARD rules")
	}
	var ad requestAddressResponse
	r.must("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID}, &ad)
	if ad.Address != "10.32.0.2/13" {
		t.Fatalf("address %q", ad.Address)
	}
	var ce createEndpointResponse
	r.must("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: netID, EndpointID: epID, Interface: &endpointInterface{Address: ad.Address}}, &ce)
	if ce.Interface == nil || ce.Interface.MacAddress == "" {
		t.Fatalf("no MAC returned: %+v", ce)
	}
	ep := r.eps.eps[epID]
	if len(ep.Subnets) != 1 || ep.Subnets[0] != testDefault {
		t.Fatalf("endpoint subnets %v", ep.Subnets)
	}
	var j joinResponse
	r.must("NetworkDriver.Join", joinRequest{NetworkID: netID, EndpointID: epID, SandboxKey: "/x"}, &j)
	if j.InterfaceName.SrcName != ep.ContainerVeth || j.InterfaceName.DstPrefix != "ethwe" || j.Gateway != "10.32.0.1" {
		t.Fatalf("join %+v", j)
	}
	r.must("NetworkDriver.ProgramExternalConnectivity", endpointRequest{NetworkID: netID, EndpointID: epID}, nil)
	r.must("NetworkDriver.EndpointOperInfo", endpointRequest{NetworkID: netID, EndpointID: epID}, nil)
	r.must("NetworkDriver.RevokeExternalConnectivity", endpointRequest{NetworkID: netID, EndpointID: epID}, nil)
	r.must("NetworkDriver.Leave", endpointRequest{NetworkID: netID, EndpointID: epID}, nil)
	r.must("NetworkDriver.DeleteEndpoint", endpointRequest{NetworkID: netID, EndpointID: epID}, nil)
	if len(r.eps.eps) != 0 {
		t.Fatal("endpoint not deleted")
	}
	r.must("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: poolID, Address: "10.32.0.2"}, nil)
	r.must("NetworkDriver.DeleteNetwork", networkRequest{NetworkID: netID}, nil)
	r.must("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: poolID, Address: "10.32.0.1"}, nil)
	r.must("IpamDriver.ReleasePool", releasePoolRequest{PoolID: poolID}, nil)
	if k := r.keys(); len(k) != 0 {
		t.Fatalf("allocations left: %v", k)
	}
	if len(r.host.exposed) != 0 {
		t.Fatalf("exposed left: %v", r.host.exposed)
	}
}

func TestRequestPool(t *testing.T) {
	tests := []struct {
		name    string
		req     requestPoolRequest
		poolID  string
		pool    string
		errWant string
	}{
		{name: "default", poolID: "net:default", pool: "10.32.0.0/13"},
		{name: "subnet is default", req: requestPoolRequest{Pool: "10.32.0.0/13"}, poolID: "net:default", pool: "10.32.0.0/13"},
		{name: "subnet", req: requestPoolRequest{Pool: "10.40.7.0/24"}, poolID: "net:10.40.7.0/24", pool: "10.40.7.0/24"},
		{name: "net opt", req: requestPoolRequest{Options: map[string]string{"net": "10.41.0.0/16"}}, poolID: "net:10.41.0.0/16", pool: "10.41.0.0/16"},
		{name: "app opt", req: requestPoolRequest{Options: map[string]string{"app": "db"}}, poolID: "app:db"},
		{name: "inside default", req: requestPoolRequest{Pool: "10.32.5.0/24"}, errWant: "overlaps the default subnet"},
		{name: "outside range", req: requestPoolRequest{Pool: "192.168.0.0/24"}, errWant: "not inside the allocation range"},
		{name: "v6", req: requestPoolRequest{V6: true}, errWant: "IPv6"},
		{name: "ip-range", req: requestPoolRequest{Pool: "10.40.7.0/24", SubPool: "10.40.7.0/25"}, errWant: "--ip-range"},
		{name: "bad opt", req: requestPoolRequest{Options: map[string]string{"colour": "red"}}, errWant: "unknown"},
		{name: "disagree", req: requestPoolRequest{Pool: "10.40.7.0/24", Options: map[string]string{"net": "10.40.8.0/24"}}, errWant: "different subnets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "")
			var out requestPoolResponse
			e := r.call("IpamDriver.RequestPool", tt.req, &out)
			if tt.errWant != "" {
				if !strings.Contains(e, tt.errWant) {
					t.Fatalf("error %q, want %q", e, tt.errWant)
				}
				return
			}
			if e != "" || out.PoolID != tt.poolID || tt.pool != "" && out.Pool != tt.pool {
				t.Fatalf("got %+v %q", out, e)
			}
		})
	}
	t.Run("overlaps another network", func(t *testing.T) {
		r := newRig(t, "")
		r.createNetwork(netID, requestPoolRequest{Pool: "10.40.0.0/16"})
		if e := r.call("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.40.7.0/24"}, nil); !strings.Contains(e, "overlaps the subnet 10.40.0.0/16") {
			t.Fatalf("error %q", e)
		}
		r.must("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.40.0.0/16"}, nil)
	})
	t.Run("a second network asking for no subnet while one has the default subnet", func(t *testing.T) {
		r := newRig(t, "")
		r.createNetwork(netID, requestPoolRequest{Pool: "10.32.0.0/13"})
		if e := r.call("IpamDriver.RequestPool", requestPoolRequest{}, nil); !strings.Contains(e, "give this network a subnet of its own") {
			t.Fatalf("error %q, want the advice to give a subnet (Docker asks again for ever otherwise)", e)
		}
		// The network's own pool, asked again with its subnet (as
		// dockerd does when it restores it), is still answered.
		r.must("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.32.0.0/13"}, nil)
	})
}

// TestPreferredAddress: an address the proxy reserved under the
// container's key is granted and outlives the endpoint; another one is
// claimed and released.
func TestPreferredAddress(t *testing.T) {
	r := newRig(t, "")
	poolID, _ := r.createNetwork(netID, requestPoolRequest{})
	key := docker.ContainerKey("c0ffee")
	if _, _, err := r.a.Assign(t.Context(), key, []netip.Prefix{netip.MustParsePrefix("10.32.0.9/13")}, nil); err != nil {
		t.Fatal(err)
	}
	var ad requestAddressResponse
	r.must("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID, Address: "10.32.0.9"}, &ad)
	if ad.Address != "10.32.0.9/13" {
		t.Fatalf("granted %q", ad.Address)
	}
	r.must("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: netID, EndpointID: epID, Interface: &endpointInterface{Address: ad.Address}}, nil)
	if e := r.call("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID, Address: "10.32.0.9"}, nil); !strings.Contains(e, "in use by endpoint") {
		t.Fatalf("granted twice: %q", e)
	}
	r.must("NetworkDriver.DeleteEndpoint", endpointRequest{NetworkID: netID, EndpointID: epID}, nil)
	r.must("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: poolID, Address: "10.32.0.9"}, nil)
	if len(r.keys()[key]) != 1 {
		t.Fatal("the container's address was released")
	}
	r.must("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID, Address: "10.32.0.20"}, &ad)
	if got := r.keys()[AddrKeyPrefix+"10.32.0.20"]; len(got) != 1 {
		t.Fatalf("claimed: %v", r.keys())
	}
	if e := r.call("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID, Address: "10.32.0.20"}, nil); !strings.Contains(e, "in use") {
		t.Fatalf("second claim: %q", e)
	}
	if e := r.call("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID, Address: "10.40.0.20"}, nil); !strings.Contains(e, "not a host address") {
		t.Fatalf("outside: %q", e)
	}
	r.must("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: poolID, Address: "10.32.0.20"}, nil)
	if _, ok := r.keys()[AddrKeyPrefix+"10.32.0.20"]; ok {
		t.Fatal("not released")
	}
}

// TestGatewayExposedByUser: an address exposed by the user is the
// gateway, and stays exposed when the network goes.
func TestGatewayExposedByUser(t *testing.T) {
	r := newRig(t, "")
	out, err := r.host.Expose(t.Context(), api.ExposeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, gw := r.createNetwork(netID, requestPoolRequest{})
	if gw != out.Addrs[0].String() {
		t.Fatalf("gateway %s, exposed %s", gw, out.Addrs[0])
	}
	if e := r.call("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: "other", IPv4Data: []ipamData{{Pool: "10.32.0.0/13", Gateway: "10.32.0.77/13"}}}, nil); !strings.Contains(e, "give --gateway") {
		t.Fatalf("other gateway: %q", e)
	}
	r.must("NetworkDriver.DeleteNetwork", networkRequest{NetworkID: netID}, nil)
	if len(r.host.exposed) != 1 {
		t.Fatal("the user's exposed address was hidden")
	}
}

// TestTwoNetworksShareGateway: the gateway goes with the last network
// of its subnet.
func TestTwoNetworksShareGateway(t *testing.T) {
	r := newRig(t, "")
	_, gw1 := r.createNetwork("net-a", requestPoolRequest{Options: map[string]string{"app": "web"}})
	_, gw2 := r.createNetwork("net-b", requestPoolRequest{Options: map[string]string{"app": "web"}})
	if gw1 != gw2 {
		t.Fatalf("gateways %s %s", gw1, gw2)
	}
	r.must("NetworkDriver.DeleteNetwork", networkRequest{NetworkID: "net-a"}, nil)
	if len(r.host.exposed) != 1 {
		t.Fatal("gateway hidden while a network uses it")
	}
	r.must("NetworkDriver.DeleteNetwork", networkRequest{NetworkID: "net-b"}, nil)
	if len(r.host.exposed) != 0 {
		t.Fatal("gateway left")
	}
}

// TestRestart: a new Service on the same state file serves the networks
// and endpoints of the old one, restores the endpoints whose veth is
// there and the gateways, and still releases the addresses handed out.
func TestRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, file)
	poolID, _ := r.createNetwork(netID, requestPoolRequest{})
	var ad requestAddressResponse
	r.must("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID}, &ad)
	r.must("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: netID, EndpointID: epID, Interface: &endpointInterface{Address: ad.Address}}, nil)
	r.must("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: netID, EndpointID: "gone0123456789", Interface: &endpointInterface{Address: "10.32.0.3/13"}}, nil)

	r2 := newRig(t, file)
	r2.a, r2.host.addrs = r.a, r.a // the allocator outlives the plugin
	r2.s.cfg.Addresses = r.a
	r2.eps.gone["gone0123456789"] = true
	if err := r2.s.Start(); err != nil {
		t.Fatal(err)
	}
	defer r2.s.Close()
	if strings.Join(r2.eps.restored, ",") != epID {
		t.Fatalf("restored %v", r2.eps.restored)
	}
	if len(r2.host.exposed) != 1 {
		t.Fatalf("gateway not restored: %v", r2.host.exposed)
	}
	if _, ok := r2.s.snapshot().Endpoints["gone0123456789"]; ok {
		t.Fatal("gone endpoint kept")
	}
	var j joinResponse
	r2.must("NetworkDriver.Join", joinRequest{NetworkID: netID, EndpointID: epID}, &j)
	if j.Gateway != "10.32.0.1" {
		t.Fatalf("join after restart %+v", j)
	}
	r2.must("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: poolID, Address: strings.Split(ad.Address, "/")[0]}, nil)
	for k := range r.keys() {
		if strings.HasPrefix(k, AddrKeyPrefix) {
			t.Fatalf("%s left", k)
		}
	}
}

// TestRestartAfterTheAllocatorLostItsState: when the router comes back
// with an empty allocator (its database was replaced), the restored
// endpoint's address is claimed again, so that no other container gets
// it, and dockerd's release still frees it.
func TestRestartAfterTheAllocatorLostItsState(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, file)
	poolID, _ := r.createNetwork(netID, requestPoolRequest{})
	var ad requestAddressResponse
	r.must("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID}, &ad)
	r.must("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: netID, EndpointID: epID, Interface: &endpointInterface{Address: ad.Address}}, nil)
	addr := netip.MustParsePrefix(ad.Address).Addr()

	r2 := newRig(t, file) // a new, empty allocator
	if err := r2.s.Start(); err != nil {
		t.Fatal(err)
	}
	defer r2.s.Close()
	if k, ok := r2.a.Holder(addr); !ok || k != AddrKeyPrefix+addr.String() {
		t.Fatalf("after the restart %s is held by %q (%v), want %s", addr, k, ok, AddrKeyPrefix+addr.String())
	}
	r2.must("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: poolID, Address: addr.String()}, nil)
	if _, ok := r2.a.Holder(addr); ok {
		t.Fatalf("%s still held after dockerd released it", addr)
	}
}

// TestStartServesAndCloseCleans: the sockets answer, Close removes them
// and the FORWARD rules, twice.
func TestStartServesAndCloseCleans(t *testing.T) {
	r := newRig(t, "")
	dir := t.TempDir()
	r.s.cfg.Sockets = []string{filepath.Join(dir, "a", "p.sock"), filepath.Join(dir, "b.sock")}
	if err := r.s.Start(); err != nil {
		t.Fatal(err)
	}
	for _, sock := range r.s.cfg.Sockets {
		c := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return net.Dial("unix", sock) }}}
		resp, err := c.Post("http://plugin/Plugin.Activate", ContentType, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", sock, resp.StatusCode)
		}
	}
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, sock := range r.s.cfg.Sockets {
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Fatalf("%s left: %v", sock, err)
		}
	}
	if len(r.fw.rules) != 0 {
		t.Fatal("FORWARD rules left")
	}
}

// TestExtraAddresses: the docker.ExtraOpt driver option adds addresses
// to the port and, after Join, to the container; those the driver
// claimed go with the endpoint, a container's own stay.
func TestExtraAddresses(t *testing.T) {
	r := newRig(t, "")
	poolID, _ := r.createNetwork(netID, requestPoolRequest{})
	own := docker.ContainerKey("c0ffee")
	if _, _, err := r.a.Assign(t.Context(), own, []netip.Prefix{netip.MustParsePrefix("10.40.1.7/24")}, nil); err != nil {
		t.Fatal(err)
	}
	var ad requestAddressResponse
	r.must("IpamDriver.RequestAddress", requestAddressRequest{PoolID: poolID}, &ad)
	opts := map[string]any{docker.ExtraOpt: "10.40.9.5/24, 10.40.1.7/24"}
	r.must("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: netID, EndpointID: epID, Interface: &endpointInterface{Address: ad.Address}, Options: opts}, nil)
	ep := r.eps.eps[epID]
	if fmt.Sprint(ep.Addrs) != "["+ad.Address+" 10.40.9.5/24 10.40.1.7/24]" || fmt.Sprint(ep.Subnets) != "[10.32.0.0/13 10.40.9.0/24 10.40.1.0/24]" {
		t.Fatalf("endpoint %+v", ep)
	}
	if len(r.keys()[AddrKeyPrefix+"10.40.9.5"]) != 1 {
		t.Fatalf("10.40.9.5 not claimed: %v", r.keys())
	}
	r.must("NetworkDriver.Join", joinRequest{NetworkID: netID, EndpointID: epID, SandboxKey: "/run/docker/netns/x"}, nil)
	r.s.done.Wait()
	if fmt.Sprint(r.eps.added) != "["+epID+" /run/docker/netns/x [10.40.9.5/24 10.40.1.7/24]]" {
		t.Fatalf("added %v", r.eps.added)
	}
	r.must("NetworkDriver.DeleteEndpoint", endpointRequest{NetworkID: netID, EndpointID: epID}, nil)
	if k := r.keys(); len(k[AddrKeyPrefix+"10.40.9.5"]) != 0 || len(k[own]) != 1 {
		t.Fatalf("after delete: %v", k)
	}

	for _, bad := range []any{"10.40.9.0/24", "10.40.9.5", "nope", 7, "10.32.0.1/13"} {
		e := r.call("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: netID, EndpointID: epID, Interface: &endpointInterface{Address: ad.Address},
			Options: map[string]any{docker.ExtraOpt: bad}}, nil)
		if !strings.Contains(e, docker.ExtraOpt) {
			t.Errorf("%v: %q", bad, e)
		}
	}
}
