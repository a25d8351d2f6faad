module github.com/weave-switch/weave-switch

go 1.26
