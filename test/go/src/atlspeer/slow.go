package main

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// slowResult is the outcome of one slow-handshake connection.
type slowResult struct {
	code          string // ClosedByServer, StillOpen, or a dial error code
	message       string
	closedAfter   time.Duration
	bytesReceived int
}

// partialClientHello returns the first 16 bytes of a TLS handshake record carrying a
// ClientHello: record header (type 22, legacy version 3.1, length 512), handshake
// header (type 1, length 508), legacy_version 3.3 and the first 5 bytes of random.
func partialClientHello() []byte {
	b := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, 0, 0}
	_, _ = rand.Read(b[11:])
	return b
}

// runSlow opens a raw TCP connection, sends an incomplete ClientHello and then
// waits (up to --hold) for the server to close the connection.
func runSlow(opts *options) slowResult {
	conn, err := net.DialTimeout("tcp", opts.endpoint, opts.timeout)
	if err != nil {
		return slowResult{code: "Unavailable", message: err.Error()}
	}
	defer conn.Close()
	if _, err := conn.Write(partialClientHello()); err != nil {
		return slowResult{code: "Unavailable", message: "write: " + err.Error()}
	}
	start := time.Now()
	deadline := start.Add(opts.hold)
	if err := conn.SetReadDeadline(deadline); err != nil {
		return slowResult{code: "Unavailable", message: err.Error()}
	}
	buf := make([]byte, 4096)
	received := 0
	for {
		n, err := conn.Read(buf)
		received += n
		if err == nil {
			continue // e.g. an alert record; keep waiting for the close
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return slowResult{code: "StillOpen", bytesReceived: received}
		}
		msg := ""
		if !errors.Is(err, io.EOF) {
			msg = err.Error() // e.g. connection reset by peer
		}
		return slowResult{code: "ClosedByServer", message: msg, closedAfter: time.Since(start), bytesReceived: received}
	}
}
