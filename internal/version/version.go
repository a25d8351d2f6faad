// Package version is the build's version: the one -ldflags set, else
// the VCS stamp of the build.
package version

import "runtime/debug"

// Version is the build's version. -ldflags sets it with
// -X github.com/weave-switch/weave-switch/internal/version.Version=V.
var Version = "dev"

// init takes the version from the build's VCS stamp unless -ldflags set
// one: a plain `go build` in a git checkout says which commit it is.
func init() {
	if Version == "dev" {
		Version = stampedVersion(debug.ReadBuildInfo())
	}
}

// stampedVersion is the version in a build's information: the module
// version `go install module@version` records, else the VCS revision
// (12 hex digits, "-dirty" with uncommitted changes), else "dev".
func stampedVersion(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "dev"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return rev
}
