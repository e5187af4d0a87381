package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The comment lines run writes; report reads them back. benchstat ignores
// any line that is neither a result nor "key: value".
const (
	tagFamily  = "# perfmd family="
	tagCommand = "# perfmd command="
	tagStart   = "# perfmd start "
	tagEnd     = "# perfmd end "
)

func runMain(args []string) error {
	fs := newFlags("run")
	family := fs.String("family", "", "name of the benchmark family, as report groups them")
	fs.Parse(args)
	cmdArgs := fs.Args()
	if *family == "" || len(cmdArgs) == 0 {
		usage()
	}
	fmt.Printf("%s%s\n%s%s\n", tagFamily, *family, tagCommand, shellJoin(cmdArgs))
	before, err := sample()
	if err != nil {
		return err
	}
	fmt.Printf("%sat=%s go=%s loadavg=%s\n", tagStart, before.at.Format(time.RFC3339), runtime.Version(), before.loadavg)

	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	runErr := cmd.Run()
	after, err := sample()
	if err != nil {
		return err
	}
	// The command's CPU time, its children's included (wait4 reports both).
	var self time.Duration
	if cmd.ProcessState != nil {
		self = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	wall := after.at.Sub(before.at)
	busy := after.busy - before.busy
	others := max(0, busy-self)
	fmt.Printf("%selapsed=%.1fs loadavg=%s cpus=%d self-cpu=%.1fs busy-cpu=%.1fs others-cpu-pct=%.1f\n",
		tagEnd, wall.Seconds(), after.loadavg, runtime.NumCPU(), self.Seconds(), busy.Seconds(),
		100*others.Seconds()/(wall.Seconds()*float64(runtime.NumCPU())))
	if runErr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) {
			os.Exit(ee.ExitCode())
		}
		return runErr
	}
	return nil
}

// machineSample is the machine's load at one instant.
type machineSample struct {
	at      time.Time
	loadavg string        // the 1, 5 and 15 minute load averages
	busy    time.Duration // CPU time every CPU spent not idle since boot
}

func sample() (machineSample, error) {
	s := machineSample{at: time.Now()}
	la, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return s, err
	}
	f := strings.Fields(string(la))
	s.loadavg = strings.Join(f[:min(3, len(f))], ",")
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	// cpu  user nice system idle iowait irq softirq steal ...; in USER_HZ
	// (100 on Linux) ticks.
	line, _, _ := strings.Cut(string(st), "\n")
	for i, v := range strings.Fields(line)[1:] {
		if i == 3 || i == 4 || i > 7 { // idle, iowait, and guest (already in user)
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/stat: %w", err)
		}
		s.busy += time.Duration(n) * 10 * time.Millisecond
	}
	return s, nil
}

// shellJoin quotes args so that the line can be pasted into a shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
