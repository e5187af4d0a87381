package testnet

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use: where a logger, a
// subprocess or a delivering goroutine writes while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
