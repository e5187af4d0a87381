// Package bench holds msgsink's performance proofs: benchmarks that measure
// the sink against the simplest code that could replace it, on real sockets,
// in one run, so that benchstat can compare them. It has no API; everything
// is in its _test.go files. PERFORMANCE.md is generated from its output by
// `make perf`, and SPEC section 11 lists the targets.
//
// # What each benchmark proves
//
// Every name is key=value so that benchstat can pivot on a key (for example
// `benchstat -col /impl`). Every benchmark reports allocations, closes
// everything it starts, and stops the timer only once the receiving end has
// read every message.
//
//   - Overhead/op=send/.../impl=lazy|direct: the cost of Send in the lazy sink
//     against "direct", the same design with the lazy state machine taken out:
//     the same ring, the same transport.Conn.WriteBatch on a connection made
//     in advance, one writer goroutine with the same idle schedule as
//     lazy.IdleBackoff, the same validation, no connect state and no
//     reconnect. Sends come in bursts of half the ring and the timer stops
//     while the writer catches up, so ns/op is the Send call, not the socket.
//     The delta is what waking on data and reconnecting cost a connected sink.
//   - Overhead/op=e2e/.../impl=sink|raw: throughput from the producer to a
//     reader on the other end of a Unix socket, through the lazy sink or
//     through "raw", a hand-written ring and writer goroutine doing the same
//     batched writev with net.Buffers on the bare *net.UnixConn: no
//     validation, no accounting, no transport abstraction. The delta is what
//     the whole library costs over writing it by hand; impl=direct end to end
//     splits it between the lazy wrapper and the ring and transport, and
//     impl=raw+check|raw+shared|raw+transport put back one part of the
//     contract each (validation in Send, PushShared, transport.Conn), so
//     that the gap is put down to its causes.
//   - E2E/transport=unix|tcp|ws/size=64|200|1024/producers=1|4/impl=...: msgs/s
//     from the producers to a reader, for the sink and three baselines on the
//     same socket: impl=bufio (a 64 KiB bufio.Writer written by the producer
//     itself, behind a mutex when producers share it), impl=chan (a channel and
//     a writer goroutine doing net.Buffers writev) and impl=write-per-msg (one
//     write syscall per message). Over WebSocket only the sink runs, to a
//     gobwas/ws server that unmasks every frame.
//   - Latency/rate=10k|100k/impl=sink/idle=backoff|spin|park and
//     Latency/rate=.../impl=write-per-msg: p50, p99 and p99.9 from Send to the
//     reader at a fixed offered rate, paced by a timerfd. The send time travels
//     in the message's header timestamp (taken just before the message is
//     finished and sent) and the reader subtracts it from its clock on
//     arrival; quantiles come from internal/hist (within 12.5%). The baseline
//     writes each message itself the moment it is made.
//   - IdleCPU/idle=park|backoff|spin: the CPU a connected sink with nothing
//     to send uses, from getrusage(RUSAGE_SELF) over 100 ms windows, minus the
//     same windows measured before the sink existed, in percent of one core.
//
// A producer that finds the ring full (ErrBufferFull from the sink, direct
// or raw) yields a few times, then sleeps a microsecond at a time until
// there is room (sendWaiting): the sink never blocks, so the benchmark
// decides how its producer waits, and a producer that only yields keeps the
// Go scheduler from polling the network (see sendWaiting). The baselines
// block in their own way: on the channel, the mutex or the write.
//
// The comparators live next to the benchmarks, and TestComparatorsDeliverEverything
// (part of `make test`) runs each of them over Unix and TCP and checks that
// every message arrives whole, in order, and exactly once: a broken
// comparator cannot look fast.
//
// # How to run
//
//	make bench                 # every package, COUNT=10, raw output in bench-<time>.txt
//	make perf                  # make bench, then PERFORMANCE.md from its output
//	go test -run '^$' -bench 'Overhead' -count 10 ./bench | tee new.txt
//	bin/benchstat -col /impl new.txt
//
// The Makefile sets -benchtime per family (BENCHTIME_* variables) so that
// the whole run stays under about 30 minutes on the reference 2-core machine.
// Run on a quiet machine: the producer, the writer and the reader share the
// cores, and anything else running shows in the numbers.
package bench
