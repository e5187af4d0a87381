// Package fuzz holds msgsink's fuzz targets: every parser and validator that
// reads bytes from outside the process. They use only the public API of the
// packages they test, and check it against tables written independently from
// the specification.
//
// The seed corpora live in testdata/fuzz/<Target>; `go test ./fuzz` runs every
// target over its seeds (make test does). To fuzz one target:
//
//	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 10m ./fuzz
//
// or `make fuzz FUZZTIME=10m` for all of them in turn. Commit every crasher
// the fuzzer writes to testdata/fuzz as a regression seed.
package fuzz
