package config

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize is the largest services.toml that Load and Parse accept: 1 MiB
// holds thousands of services, and a cap keeps a wrong path (a log, a disk
// image, /dev/zero) from filling memory or feeding the TOML decoder
// megabytes it would take minutes over.
const MaxFileSize = 1 << 20

// fileError is a file that Load refuses before decoding it: not a regular
// file, or too large. Load reports it as an *Error without a line.
type fileError struct {
	path string
	what string // what the file is: "a named pipe (FIFO), not a regular file"
	hint string
}

func (e *fileError) Error() string { return e.path + " is " + e.what }

// readRegular reads the regular file at path, of at most limit bytes. It
// opens path once, without blocking (opening a named pipe waits for a
// writer), and judges the file it opened, not the path, so that nothing can
// be swapped in between the check and the read; then it reads at most
// limit+1 bytes, so that a file that grew past the limit meanwhile is
// refused without being read to its end. Errors of the file system are
// returned as they are; a refusal is a *fileError.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fileError{path: path, what: fileKind(st.Mode()) + ", not a regular file", hint: "give the path of a file"}
	}
	hint := "check the path: this is not the file you meant, or it holds far more than it needs"
	if st.Size() > limit {
		return nil, &fileError{path: path, what: fmt.Sprintf("%d bytes, more than the %d this file may have", st.Size(), limit), hint: hint}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit { // it grew after the Stat
		return nil, &fileError{path: path, what: fmt.Sprintf("over the %d bytes this file may have (it grew while it was read)", limit), hint: hint}
	}
	return data, nil
}

// fileKind names what a file that is not a regular one is, for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file (" + m.Type().String() + ")"
}
