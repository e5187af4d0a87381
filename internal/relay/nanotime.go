package relay

import _ "unsafe" // for go:linkname

// nanotime is the runtime's monotonic clock, for the write-through gate
// (consumer.wakeWriter), read on the slow path only, when the writer is
// parked.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
