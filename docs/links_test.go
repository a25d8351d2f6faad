// Package docs holds the project's documentation beyond the README; its
// test checks the links of both.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	fence    = regexp.MustCompile("(?ms)^```.*?^```")
	codeSpan = regexp.MustCompile("`[^`\n]*`")
	link     = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)\)`)
	heading  = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	notSlug  = regexp.MustCompile(`[^a-z0-9 _-]`)
)

// anchors are the fragments a Markdown file's headings get on GitHub.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
		h := strings.ToLower(strings.TrimSpace(m[1]))
		out[strings.ReplaceAll(notSlug.ReplaceAllString(h, ""), " ", "-")] = true
	}
	return out
}

// Every relative link of README.md and docs/*.md names a file or
// directory of the repository (and a heading there, if it has a
// fragment); none leads outside the repository.
func TestRelativeLinks(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"))
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := codeSpan.ReplaceAllString(fence.ReplaceAllString(string(b), ""), "")
		rel, _ := filepath.Rel(root, f)
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			dest := f
			if path != "" {
				dest = filepath.Join(filepath.Dir(f), filepath.FromSlash(path))
				if r, err := filepath.Rel(root, dest); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
					t.Errorf("%s: %s leads outside the repository", rel, target)
					continue
				}
			}
			st, err := os.Stat(dest)
			if err != nil {
				t.Errorf("%s: %s: %v", rel, target, err)
				continue
			}
			checked++
			if frag == "" {
				continue
			}
			if st.IsDir() || !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: %s: a fragment of something that is not a Markdown file", rel, target)
				continue
			}
			db, err := os.ReadFile(dest)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(db))[frag] {
				t.Errorf("%s: %s: no heading #%s there", rel, target, frag)
			}
		}
	}
	if checked == 0 {
		t.Error("no relative link found: the pattern is broken")
	}
}
