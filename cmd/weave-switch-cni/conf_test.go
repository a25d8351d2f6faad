package main

import (
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/api"
)

func TestParseConf(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"cniVersion":"1.1.0","name":"pods","type":"weave-switch-cni"}`:                                         true,
		`{"cniVersion":"1.1.0","name":"pods","subnet":"app:web","api":"/run/ws.sock","stateDir":"/var/x"}`:       true,
		`{"cniVersion":"1.1.0","name":"pods","subnet":"net:10.40.0.0/24","logFile":"/var/log/ws-cni.log"}`:       true,
		`{"cniVersion":"1.1.0","name":"pods","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}`: true,
		`{"cniVersion":"1.1.0","type":"weave-switch-cni"}`:                                                       false,
		`{"cniVersion":"1.1.0","name":"pods","subnet":"web"}`:                                                    false,
		`{"cniVersion":"1.1.0","name":"pods","api":"relative.sock"}`:                                             false,
		`{"name":`:                            false,
		`{"cniVersion":"1.1.0","name":"a:b"}`: false,
	} {
		if _, err := parseConf([]byte(in)); (err == nil) != ok {
			t.Errorf("parseConf(%s) = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestKey(t *testing.T) {
	c, err := parseConf([]byte(`{"cniVersion":"1.1.0","name":"pods"}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.key("0123abcd", "eth0")
	if err != nil || k != "cni:pods:0123abcd:eth0" {
		t.Fatalf("key = %q, %v", k, err)
	}
	if !strings.HasPrefix(k, c.keyPrefix()) {
		t.Fatalf("key %q lacks the network's prefix %q", k, c.keyPrefix())
	}
	for _, bad := range [][2]string{{"", "eth0"}, {"id", ""}, {"id", "eth/0"}, {"a b", "eth0"}, {"id", "a-name-longer-than-15"}} {
		if k, err := c.key(bad[0], bad[1]); err == nil {
			t.Errorf("key(%q, %q) = %q, want an error", bad[0], bad[1], k)
		}
	}
}

func TestSocket(t *testing.T) {
	c := &netConf{}
	t.Setenv(EnvAPI, "")
	if c.socket() != api.DefaultSocket {
		t.Fatalf("default socket %q", c.socket())
	}
	t.Setenv(EnvAPI, "/run/env.sock")
	if c.socket() != "/run/env.sock" {
		t.Fatalf("socket from the environment: %q", c.socket())
	}
	c.API = "/run/conf.sock"
	if c.socket() != "/run/conf.sock" {
		t.Fatalf("socket from the configuration: %q", c.socket())
	}
}

// FuzzParseConf: the configuration comes from the runtime's files.
func FuzzParseConf(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"pods","subnet":"app:web","prevResult":{"cniVersion":"1.1.0","ips":[]}}`))
	f.Add([]byte(`{"name":"x","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConf(b)
		if err != nil {
			return
		}
		if c.Name == "" {
			t.Fatal("accepted a configuration without a name")
		}
		for _, v := range c.ValidAttachments {
			if k, err := c.key(v.ContainerID, v.IfName); err == nil && api.CheckKey(k) != nil {
				t.Fatalf("key %q accepted but invalid", k)
			}
		}
	})
}
