package kernel

import (
	"errors"
	"fmt"
)

// Backend names, as --datapath takes them.
const (
	ModeAuto      = "auto"
	ModeUserspace = "userspace"
	ModeVXLAN     = "vxlan"
	ModeOVS       = "ovs"
)

// ValidMode reports whether s is a --datapath value; "" means auto.
func ValidMode(s string) error {
	switch s {
	case "", ModeAuto, ModeUserspace, ModeVXLAN, ModeOVS:
		return nil
	}
	return fmt.Errorf("%q is not auto, userspace, vxlan or ovs", s)
}

// Probes say whether each kernel backend can work here: nil means yes,
// an error says why not.
type Probes struct {
	OVS   func() error
	VXLAN func() error
}

// Choice is the backend Select picked and why.
type Choice struct {
	Backend string `json:"backend"`
	Reason  string `json:"reason"`
}

// Select picks the backend for mode. encrypted says the links are
// encrypted (a password is set): no kernel backend encrypts, so auto then
// stays in userspace. An explicitly asked backend that cannot work here is
// an error.
func Select(mode string, encrypted bool, p Probes) (Choice, error) {
	if err := ValidMode(mode); err != nil {
		return Choice{}, err
	}
	probe := func(f func() error) error {
		if f == nil {
			return errors.New("not supported on this platform")
		}
		return f()
	}
	switch mode {
	case ModeUserspace:
		return Choice{ModeUserspace, "asked for (--datapath userspace)"}, nil
	case ModeOVS:
		if err := probe(p.OVS); err != nil {
			return Choice{}, fmt.Errorf("--datapath ovs: %w", err)
		}
		return Choice{ModeOVS, "asked for (--datapath ovs)"}, nil
	case ModeVXLAN:
		if err := probe(p.VXLAN); err != nil {
			return Choice{}, fmt.Errorf("--datapath vxlan: %w", err)
		}
		return Choice{ModeVXLAN, "asked for (--datapath vxlan)"}, nil
	}
	if encrypted {
		return Choice{ModeUserspace, "auto: links are encrypted (password set) and no kernel backend encrypts"}, nil
	}
	ovsErr := probe(p.OVS)
	if ovsErr == nil {
		return Choice{ModeOVS, "auto: the ovs_datapath generic netlink family exists"}, nil
	}
	vxErr := probe(p.VXLAN)
	if vxErr == nil {
		return Choice{ModeVXLAN, fmt.Sprintf("auto: no OVS datapath (%v); vxlan devices work", ovsErr)}, nil
	}
	return Choice{ModeUserspace, fmt.Sprintf("auto: no OVS datapath (%v); no vxlan (%v)", ovsErr, vxErr)}, nil
}
