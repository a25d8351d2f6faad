package proxy

import (
	"net/http"
	"regexp"
	"strings"
)

// Request classes, the label of the requests metric.
const (
	classCreate = "create"
	classStart  = "start"
	classAttach = "attach"
	classExec   = "exec"
	classLogs   = "logs"
	classEvents = "events"
	classOther  = "other"
)

var (
	versionRE = regexp.MustCompile(`^/v[0-9][0-9.]*(/.*)$`)
	classRE   = []struct {
		method string
		re     *regexp.Regexp
		class  string
	}{
		{http.MethodPost, regexp.MustCompile(`^/containers/create$`), classCreate},
		{http.MethodPost, regexp.MustCompile(`^/containers/[^/]+/start$`), classStart},
		{http.MethodPost, regexp.MustCompile(`^/containers/[^/]+/attach$`), classAttach},
		{http.MethodPost, regexp.MustCompile(`^/exec/[^/]+/start$`), classExec},
		{http.MethodGet, regexp.MustCompile(`^/containers/[^/]+/logs$`), classLogs},
		{http.MethodGet, regexp.MustCompile(`^/events$`), classEvents},
	}
)

// apiPath is path without its /vX.Y prefix.
func apiPath(path string) string {
	if m := versionRE.FindStringSubmatch(path); m != nil {
		return m[1]
	}
	return path
}

// classify is r's request class.
func classify(r *http.Request) string {
	p := apiPath(r.URL.Path)
	for _, c := range classRE {
		if r.Method == c.method && c.re.MatchString(p) {
			return c.class
		}
	}
	return classOther
}

// isUpgrade reports whether r asks to switch protocols (Connection:
// Upgrade with an Upgrade header), which the ReverseProxy carries.
func isUpgrade(r *http.Request) bool {
	if strings.TrimSpace(r.Header.Get("Upgrade")) == "" {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
