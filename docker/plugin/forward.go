package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
)

// IPTables installs the FORWARD rules with the iptables binary, in the
// network namespace the router runs in (dockerd's). dockerd sets the
// FORWARD policy to DROP, and with bridge netfilter on, frames bridged
// between two ports of the weave bridge (container to container, and
// container to the router's TAP) pass that chain too. The rules accept:
//
//	-i BRIDGE -o BRIDGE                  bridged traffic
//	-i BRIDGE ! -o BRIDGE                containers to the outside (masqueraded)
//	-o BRIDGE --ctstate RELATED,ESTABLISHED  the answers
//	-o BRIDGE --ctstate DNAT             published ports
//
// each tagged with a comment naming the bridge. The zero value is ready.
type IPTables struct {
	// Path is the iptables binary; if empty, "iptables" from PATH.
	Path string
}

// forwardRules are the rules for bridge, in the order they end up at the
// top of FORWARD.
func forwardRules(bridge string) [][]string {
	c := []string{"-m", "comment", "--comment", "weave-switch " + bridge}
	return [][]string{
		append([]string{"-i", bridge, "-o", bridge}, append(c, "-j", "ACCEPT")...),
		append([]string{"-i", bridge, "!", "-o", bridge}, append(c, "-j", "ACCEPT")...),
		append([]string{"-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"}, append(c, "-j", "ACCEPT")...),
		append([]string{"-o", bridge, "-m", "conntrack", "--ctstate", "DNAT"}, append(c, "-j", "ACCEPT")...),
	}
}

func (t IPTables) run(args ...string) error {
	path := t.Path
	if path == "" {
		path = "iptables"
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path, append([]string{"-w", "5"}, args...)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// exists reports whether FORWARD has rule (iptables -C).
func (t IPTables) exists(rule []string) (bool, error) {
	err := t.run(append([]string{"-t", "filter", "-C", "FORWARD"}, rule...)...)
	if err == nil {
		return true, nil
	}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false, nil
	}
	return false, err
}

// Allow implements Firewall.Allow: it inserts each rule at the top of
// FORWARD unless it is there.
func (t IPTables) Allow(bridge string) error {
	rules := forwardRules(bridge)
	for i := len(rules) - 1; i >= 0; i-- {
		ok, err := t.exists(rules[i])
		if err != nil {
			return err
		}
		if !ok {
			if err := t.run(append([]string{"-t", "filter", "-I", "FORWARD"}, rules[i]...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove implements Firewall.Remove: it deletes every copy of each rule.
func (t IPTables) Remove(bridge string) error {
	var errs []error
	for _, r := range forwardRules(bridge) {
		for range 16 {
			ok, err := t.exists(r)
			if err != nil {
				errs = append(errs, err)
			}
			if !ok {
				break
			}
			if err := t.run(append([]string{"-t", "filter", "-D", "FORWARD"}, r...)...); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// ForwardRules counts the FORWARD rules installed for bridge (by a
// router running now or one that was killed), for reset.
func ForwardRules(bridge string) (int, error) {
	n := 0
	for _, r := range forwardRules(bridge) {
		ok, err := IPTables{}.exists(r)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}
