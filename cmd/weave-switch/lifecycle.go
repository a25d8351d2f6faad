package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"os/user"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/config"
	"github.com/weave-switch/weave-switch/daemon"
	"github.com/weave-switch/weave-switch/gossip/mesh"
)

// reloadable are the settings a SIGHUP applies from the --config file
// while the router runs; every other setting changed there takes effect
// at the next start (the reload says which).
var reloadable = []string{"log-level", "peer"}

// upRun is what `up` needs to run the router and reload it.
type upRun struct {
	cfg      config.Config
	level    *slog.LevelVar
	file     string          // --config, or ""
	fixed    map[string]bool // settings given by flag or environment: the file cannot change them
	apiGroup string
}

// run starts the router, tells systemd it is ready (with
// NOTIFY_SOCKET set), reloads on SIGHUP and stops on ctx or `down`,
// telling systemd it is stopping.
func (u *upRun) run(ctx context.Context) error {
	gid := -1
	if u.apiGroup != "" {
		g, err := user.LookupGroup(u.apiGroup)
		if err != nil {
			return cli.Exit(oneLine(fmt.Errorf("--api-group: %w", err)), 2)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return cli.Exit(oneLine(fmt.Errorf("--api-group %s: gid %q", u.apiGroup, g.Gid)), 2)
		}
	}
	startFile, err := readSettings(u.file)
	if err != nil {
		return cli.Exit(oneLine(fmt.Errorf("--config: %w", err)), 2)
	}
	// SIGHUP is caught from here on: one that comes during start-up
	// is applied once the router serves, instead of killing it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := daemon.Start(u.cfg)
	if err != nil {
		return cli.Exit(oneLine(err), 1)
	}
	log := u.cfg.Logger
	if gid >= 0 {
		// The socket is 0660 root:root; its group may use the API too.
		if err := os.Chown(u.cfg.API, -1, gid); err != nil {
			log.Error("--api-group: chown the API socket", "err", err)
		} else {
			log.Info("the API socket's group may control this router", "socket", u.cfg.API, "group", u.apiGroup)
		}
	}
	notify(log, sd.SdNotifyReady+"\nSTATUS=serving; API "+u.cfg.API)

	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Wait(waitCtx) }()
	var runErr error
	for running := true; running; {
		select {
		case runErr = <-done:
			running = false
		case <-hup:
			notify(log, sd.SdNotifyReloading)
			startFile = u.reload(ctx, startFile)
			notify(log, sd.SdNotifyReady+"\nSTATUS=serving; reloaded")
		}
	}
	notify(log, sd.SdNotifyStopping)
	if err := errors.Join(runErr, d.Close()); err != nil {
		return cli.Exit(oneLine(err), 1)
	}
	return nil
}

// oneLine is err's message on one line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// notify sends state to systemd when it started us with Type=notify
// (NOTIFY_SOCKET set); otherwise it does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		log.Warn("notify systemd", "err", err)
	}
}

// settings are a config file's keys and values.
type settings map[string]any

// readSettings reads the YAML config file (none: empty settings).
func readSettings(path string) (settings, error) {
	if path == "" {
		return settings{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := settings{}
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s == nil {
		s = settings{}
	}
	return s, nil
}

// list is a list setting's values (one value, or a YAML list; each
// element may hold several, split as the environment's are).
func (s settings) list(key string, split func([]string) []string) []string {
	switch v := s[key].(type) {
	case nil:
		return nil
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return split(out)
	default:
		return split([]string{fmt.Sprint(v)})
	}
}

// reload applies the config file's reloadable settings to the running
// router (unless a flag or the environment fixed them) and says which
// other changes need a restart. It returns the settings now in force.
func (u *upRun) reload(ctx context.Context, old settings) settings {
	log := u.cfg.Logger
	if u.file == "" {
		log.Info("SIGHUP: no --config file, nothing to reload")
		return old
	}
	cur, err := readSettings(u.file)
	if err != nil {
		log.Error("SIGHUP: config file not reloaded", "err", err)
		return old
	}
	log.Info("SIGHUP: reloading the config file", "file", u.file)
	keys := slices.Sorted(maps.Keys(cur))
	for k := range old {
		if _, ok := cur[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if reflect.DeepEqual(old[k], cur[k]) {
			continue
		}
		switch {
		case u.fixed[k]:
			log.Warn("SIGHUP: setting changed in the config file but given by a flag or the environment, which win", "setting", k)
		case !slices.Contains(reloadable, k):
			log.Warn("SIGHUP: setting changed in the config file: it takes effect at the next start", "setting", k)
		}
	}
	if !u.fixed["log-level"] && !reflect.DeepEqual(old["log-level"], cur["log-level"]) {
		lv := "info"
		if v, ok := cur["log-level"]; ok {
			lv = fmt.Sprint(v)
		}
		if l, err := parseLevel(lv); err != nil {
			log.Error("SIGHUP: log-level not changed", "err", err)
		} else {
			u.level.Set(l)
			log.Info("SIGHUP: log level set", "level", l.String())
		}
	}
	if !u.fixed["peer"] {
		u.reloadPeers(ctx, old.list("peer", splitPeers), cur.list("peer", splitPeers))
	}
	return cur
}

// reloadPeers connects to the peers added to the file and forgets those
// removed from it, through the router's API.
func (u *upRun) reloadPeers(ctx context.Context, old, cur []string) {
	log := u.cfg.Logger
	c := api.NewClient(u.cfg.API)
	for _, p := range cur {
		if slices.Contains(old, p) {
			continue
		}
		addr, tr, err := mesh.ParsePeerSpec(p)
		if err == nil {
			err = c.Connect(ctx, addr, tr)
		}
		if err != nil {
			log.Error("SIGHUP: peer not added", "peer", p, "err", err)
			continue
		}
		log.Info("SIGHUP: peer added", "peer", p)
	}
	for _, p := range old {
		if slices.Contains(cur, p) {
			continue
		}
		addr, _, err := mesh.ParsePeerSpec(p)
		if err == nil {
			_, err = c.Forget(ctx, addr)
		}
		if err != nil {
			log.Error("SIGHUP: peer not removed", "peer", p, "err", err)
			continue
		}
		log.Info("SIGHUP: peer removed", "peer", p)
	}
}
