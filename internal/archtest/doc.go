// Package archtest holds no code: its test enforces the import graph of
// the project (STYLE rule 2) with `go list`, so that a forbidden import
// fails `go test` rather than waiting for a reviewer.
package archtest
