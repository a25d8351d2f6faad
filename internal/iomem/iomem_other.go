//go:build !unix

package iomem

import "errors"

const pageSize = 4096

var failMap bool

func mapAnon(int) ([]byte, error) { return nil, errors.New("no anonymous mappings") }

func dontNeed([]byte) error { return nil }

func unmap([]byte) error { return nil }
