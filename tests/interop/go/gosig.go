// SPDX-License-Identifier: MIT
// tests/interop/go/gosig.go — a Go c-shared library (standard library only) that go_test.cc
// dlopen()s into a sigrelay program: it subscribes to signals with os/signal, counts what it
// receives, gives signals back with signal.Reset, and keeps the Go runtime busy (goroutines, GC).
package main

import "C"

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

var (
	mu       sync.Mutex
	channels = map[int]chan os.Signal{}
	counts   [65]int64
)

//export GoNotify
func GoNotify(sig C.int) {
	mu.Lock()
	defer mu.Unlock()
	n := int(sig)
	if _, ok := channels[n]; ok {
		return
	}
	ch := make(chan os.Signal, 16)
	channels[n] = ch
	signal.Notify(ch, syscall.Signal(n))
	go func() {
		for range ch {
			atomic.AddInt64(&counts[n], 1)
		}
	}()
}

//export GoReset
func GoReset(sig C.int) {
	signal.Reset(syscall.Signal(int(sig)))
}

//export GoCount
func GoCount(sig C.int) C.longlong {
	return C.longlong(atomic.LoadInt64(&counts[int(sig)]))
}

// GoWork runs n goroutines that allocate and collect garbage, and returns their checksum.
//
//export GoWork
func GoWork(n C.int) C.longlong {
	var wg sync.WaitGroup
	var sum int64
	for i := 0; i < int(n); i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			buf := make([][]byte, 0, 64)
			for j := 0; j < 64; j++ {
				buf = append(buf, make([]byte, 4096+j))
			}
			runtime.GC()
			atomic.AddInt64(&sum, int64(len(buf)))
		}(i)
	}
	wg.Wait()
	return C.longlong(sum)
}

func main() {}
