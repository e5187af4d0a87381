package lazy

import _ "unsafe" // for go:linkname

// nanotime is the runtime's monotonic clock: the vDSO read behind
// time.Now, without the wall clock or the Time value. Send's write-through
// gate reads it on the slow path only, when the writer is parked.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
