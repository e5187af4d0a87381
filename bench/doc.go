// Package bench holds msgsink's performance proofs: benchmarks that measure
// the sink against the simplest code that could replace it, on real sockets,
// in one run, so that benchstat can compare them. It has no API; everything
// is in its _test.go files. PERFORMANCE.md is generated from its output by
// `make perf`; SPEC section 11 and the issues (issue 13 for the adapter's
// path) give the targets that perfmd checks.
//
// # What each benchmark proves
//
// Every name is key=value so that benchstat can pivot on a key (for example
// `benchstat -col /impl`). Every benchmark reports allocations, closes
// everything it starts, and stops the timer only once the receiving end has
// read every message.
//
//   - E2E/msg=built/transport=unix|tcp|ws/size=64/producers=1|4/impl=...:
//     what an adapter does, and the figure that leads PERFORMANCE.md. Every
//     producer builds each message with its own tlv.Builder, warmed before
//     the timer starts: a different message each time, one record carrying
//     its sequence number and timestamp, padded to the size (the timestamp
//     comes with the data, as a vendor's does: the clock is not read per
//     message). The pipe recycles it after the write. msgs/s from the
//     producers to a reader, for the sink and the baselines on the same
//     socket, each encoding every message too: impl=sink (the shared
//     default), impl=sink-single (lazy.Config.SingleProducer, one producer
//     only), impl=bufio (the producer writes the message's bytes into a
//     64 KiB bufio.Writer on the socket, behind a mutex when producers share
//     it, and releases the message), impl=chan (as a user who builds every
//     message writes it: the producer copies the message into a fresh slice,
//     one allocation per message, and a writer goroutine takes the slices
//     off a channel and writes them with net.Buffers writev) and
//     impl=write-per-msg (one write syscall per message). Over WebSocket
//     only the sink runs, to a gobwas/ws server that unmasks every frame.
//   - E2E/msg=prebuilt/transport=unix|tcp|ws/size=64|200|1024/producers=1|4/impl=...:
//     the pipe-only figure: each producer hands over one pre-built message
//     again and again, so building is in no impl's figure. impl=sink, bufio
//     and write-per-msg as above; impl=chan here carries the message itself
//     on the channel and releases it after the write (no allocation).
//   - Latency/rate=10k|100k/impl=sink/idle=backoff|spin|park,
//     Latency/rate=.../impl=sink-single/idle=backoff and
//     Latency/rate=.../impl=write-per-msg|bufio-flush|chan: p50, p99 and
//     p99.9 from the send to the reader at a fixed offered rate, paced by a
//     timerfd, 64-byte messages over a Unix socket, every message built as
//     it is sent and recycled after the write. The send time travels in the
//     message's header timestamp (read from the clock just before the message
//     is finished) and the reader subtracts it from its clock on arrival;
//     quantiles come from internal/hist (within 12.5%). The baselines write
//     each message the moment it is made: one write per message, a
//     bufio.Writer with a Flush per message, and the channel design of
//     msg=built.
//   - RelayLatency/rate=10k|100k/impl=sink-single/idle=backoff/hop=relay:
//     Latency's sink-single row with a domain relay (relay, in
//     this process, as in the demo) between the sink and the reader, which
//     subscribes to it: the cost of the hop, against the direct row.
//   - Overhead/op=send/.../impl=lazy|direct|lazy-single: the cost of Send in
//     the lazy sink against "direct", the same design with the lazy state
//     machine taken out: the same ring, the same transport.Conn.WriteBatch
//     on a connection made in advance, one writer goroutine with the same
//     idle schedule as lazy.IdleBackoff, the same validation, no connect
//     state and no reconnect; lazy-single is the lazy sink with
//     SingleProducer (the plain SPSC push instead of PushShared). Sends come
//     in bursts of half the ring and the timer stops while the writer
//     catches up, so ns/op is the Send call, not the socket. The delta
//     between lazy and direct is what waking on data and reconnecting cost a
//     connected sink.
//   - Overhead/op=build-send/.../impl=lazy|lazy-single: the adapter's step,
//     timed as op=send is: build a message with a warmed tlv.Builder, Send
//     it, and let the writer return it to the builder. Its allocs/op is the
//     proof that building, sending and recycling allocate nothing once warm.
//   - Overhead/op=e2e/.../impl=sink|raw: throughput from the producer to a
//     reader on the other end of a Unix socket (pre-built messages), through
//     the lazy sink or through "raw", a hand-written ring and writer
//     goroutine doing the same batched writev with net.Buffers on the bare
//     *net.UnixConn: no validation, no accounting, no transport abstraction.
//     The delta is what the whole library costs over writing it by hand;
//     impl=direct end to end splits it between the lazy wrapper and the ring
//     and transport, and impl=raw+check|raw+shared|raw+transport put back one
//     part of the contract each (validation in Send, PushShared,
//     transport.Conn), so that the gap is put down to its causes.
//   - IdleCPU/idle=park|backoff|spin: the CPU a connected sink with nothing
//     to send uses, from getrusage(RUSAGE_SELF) over 100 ms windows, minus the
//     same windows measured before the sink existed, in percent of one core.
//
// A producer of the sink that finds the ring full waits in SendWait, which
// sleeps until the writer frees room. The hand-written comparators (direct,
// raw and its steps) have no SendWait: their producers yield a few times,
// then sleep a microsecond at a time until there is room (sendWaiting). A
// producer that only yields keeps the Go scheduler from polling the network
// (see sendWaiting). The baselines block in their own way: on the channel,
// the mutex or the write.
//
// The comparators live next to the benchmarks, and TestComparatorsDeliverEverything
// (part of `make test`) runs each of them, both designs of impl=chan and the
// sink with and without SingleProducer, over Unix and TCP (the sink over
// WebSocket too) with messages built as msg=built builds them, and checks
// that every message arrives whole, in order, and exactly once: a broken
// comparator cannot look fast. TestPacedLatency does the same for
// Latency's path and each impl it runs, and for the relay hop.
//
// # How to run
//
//	make bench                 # every package, COUNT=10, raw output in bench-<time>.txt
//	make perf                  # make bench, then PERFORMANCE.md from its output
//	go test -run '^$' -bench 'E2E/msg=built/transport=unix' -count 10 ./bench | tee new.txt
//	bin/benchstat -row /producers -col /impl new.txt
//
// The Makefile sets -benchtime per family (BENCHTIME_* variables) so that
// the whole run stays under about 30 minutes on the reference 2-core machine.
// Run on a quiet machine: the producer, the writer and the reader share the
// cores, and anything else running shows in the numbers.
package bench
