// Package archtest holds no code: its test enforces the import graph of
// the module with `go list`, so that a forbidden import fails `go test`
// rather than waiting for a reviewer. The rules are tables in arch_test.go:
// seams (what a package never imports), leaves (all a package may import
// beyond the standard library), restrictions (who alone may import a
// package, such as netlink and x/sys/unix) and exemptions, each with the
// reason it holds. A package's tests are held to the same rules as its
// code, except where an exemption says otherwise.
package archtest
