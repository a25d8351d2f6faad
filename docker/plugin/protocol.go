package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ContentType is the libnetwork plugin protocol's media type.
const ContentType = "application/vnd.docker.plugins.v1.2+json"

// maxBody bounds a request body: the largest real ones (CreateNetwork
// with its options) are a few kilobytes.
const maxBody = 1 << 20

// The requests and responses of the protocol, with the fields this
// driver reads or writes.
type (
	activateResponse struct {
		Implements []string
	}

	ipamCapabilities struct {
		RequiresMACAddress    bool
		RequiresRequestReplay bool
	}
	addressSpaces struct {
		LocalDefaultAddressSpace  string
		GlobalDefaultAddressSpace string
	}
	requestPoolRequest struct {
		AddressSpace string
		Pool         string
		SubPool      string
		Options      map[string]string
		V6           bool
	}
	requestPoolResponse struct {
		PoolID string
		Pool   string
		Data   map[string]string
	}
	releasePoolRequest struct {
		PoolID string
	}
	requestAddressRequest struct {
		PoolID  string
		Address string
		Options map[string]string
	}
	requestAddressResponse struct {
		Address string
		Data    map[string]string
	}
	releaseAddressRequest struct {
		PoolID  string
		Address string
	}

	networkCapabilities struct {
		Scope             string
		ConnectivityScope string
	}
	ipamData struct {
		AddressSpace string
		Pool         string
		Gateway      string
		AuxAddresses map[string]string
	}
	createNetworkRequest struct {
		NetworkID string
		Options   map[string]any
		IPv4Data  []ipamData
		IPv6Data  []ipamData
	}
	networkRequest struct {
		NetworkID string
	}
	endpointInterface struct {
		Address     string `json:",omitempty"`
		AddressIPv6 string `json:",omitempty"`
		MacAddress  string `json:",omitempty"`
	}
	createEndpointRequest struct {
		NetworkID  string
		EndpointID string
		Interface  *endpointInterface
		Options    map[string]any
	}
	createEndpointResponse struct {
		Interface *endpointInterface `json:",omitempty"`
	}
	endpointRequest struct {
		NetworkID  string
		EndpointID string
	}
	endpointInfoResponse struct {
		Value map[string]any
	}
	joinRequest struct {
		NetworkID  string
		EndpointID string
		SandboxKey string
		Options    map[string]any
	}
	interfaceName struct {
		SrcName   string
		DstPrefix string
	}
	joinResponse struct {
		InterfaceName         interfaceName
		Gateway               string `json:",omitempty"`
		DisableGatewayService bool   `json:",omitempty"`
	}
	empty struct{}
)

// errorResponse is how the protocol reports a failure, with HTTP 500.
type errorResponse struct {
	Err string
}

// decodeRequest reads one request body into v: a single JSON object of
// at most maxBody bytes (an empty body is an empty object; dockerd sends
// some calls with none). Unknown fields are ignored: dockerd versions
// add fields.
func decodeRequest(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if len(b) > maxBody {
		return fmt.Errorf("request body larger than %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decode request: data after the JSON object")
	}
	return nil
}

// writeResponse writes v, or err as {"Err": ...} with status 500.
func writeResponse(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", ContentType)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(errorResponse{Err: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}
