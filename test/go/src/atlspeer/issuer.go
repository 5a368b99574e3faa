package main

// Attestation variants (spec: atls.md §3) and the external issuers that produce the
// attestation document of a real variant for the client certificate: a program run
// per handshake (--issuer-command) or an HTTP service asked per handshake
// (--issuer-url, cheap enough for --load).

import (
	"bytes"
	"context"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// variantOIDs maps the --variant strings to the X.509 extension OIDs of their
// attestation documents (atls.md §3).
var variantOIDs = map[string]asn1.ObjectIdentifier{
	"dummy":               {1, 3, 9900, 1, 1},
	"aws-nitro-tpm":       {1, 3, 9900, 2, 1},
	"aws-sev-snp":         {1, 3, 9900, 2, 2},
	"gcp-sev-es":          {1, 3, 9900, 3, 1},
	"gcp-sev-snp":         {1, 3, 9900, 3, 2},
	"azure-sev-snp":       {1, 3, 9900, 4, 1},
	"azure-trustedlaunch": {1, 3, 9900, 4, 2},
	"azure-tdx":           {1, 3, 9900, 4, 3},
	"qemu-vtpm":           {1, 3, 9900, 5, 1},
	"qemu-tdx":            {1, 3, 9900, 5, 99},
}

func variantNames() []string {
	names := make([]string, 0, len(variantOIDs))
	for n := range variantOIDs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// issuerModes are the --mode values that make sense with --issuer-command or
// --issuer-url.
var issuerModes = []string{"good", "wrong-nonce", "wrong-key-hash"}

const (
	// issuerTimeout bounds one run of the issuer command (like Constellation's 30 s
	// attestation timeout); the handshake context can end it earlier.
	issuerTimeout = 30 * time.Second
	// maxIssuerOutput bounds the document the issuer command may print.
	maxIssuerOutput = 1 << 20
	// maxIssuerStderr is how much of the command's stderr is kept for error messages.
	maxIssuerStderr = 4 << 10
	// maxIssuerErrorBody is how much of a non-200 --issuer-url answer goes into the error.
	maxIssuerErrorBody = 200
)

// issuerError marks a failure of the external issuer (command or URL), so that load
// mode can count it as cause "issuer" rather than "handshake".
type issuerError struct{ err error }

func (e *issuerError) Error() string { return e.err.Error() }
func (e *issuerError) Unwrap() error { return e.err }

// issueDocument gets the attestation document from the configured external issuer
// (--issuer-url or --issuer-command); every error is an *issuerError.
func issueDocument(ctx context.Context, o *options, nonce, userData []byte) ([]byte, error) {
	var doc []byte
	var err error
	if o.issuerURL != "" {
		doc, err = fetchIssuerURL(ctx, o, nonce, userData)
	} else {
		doc, err = runIssuerCommand(ctx, o, nonce, userData)
	}
	if err != nil {
		return nil, &issuerError{err}
	}
	return doc, nil
}

// issuerHTTPClient is shared by all handshakes: keep-alive connections to the
// issuer service are reused, up to 256 idle ones (a burst of nodes asks at once).
var issuerHTTPClient = &http.Client{
	Timeout: issuerTimeout,
	Transport: &http.Transport{
		Proxy:               nil, // the issuer is a local test service
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	},
}

// issuerURLRequest is the body POSTed to --issuer-url.
type issuerURLRequest struct {
	Variant  string `json:"variant"`
	Nonce    string `json:"nonce"`
	UserData string `json:"userData"`
}

// fetchIssuerURL POSTs {"variant","nonce","userData"} (lower-case hex) as JSON to
// --issuer-url. A 200 answer's body is the raw document (non-empty, at most 1 MiB);
// any other status is an error with the status and up to 200 bytes of the body.
// The request ends with the handshake context, after 30 s at the latest.
func fetchIssuerURL(parent context.Context, o *options, nonce, userData []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, issuerTimeout)
	defer cancel()
	body, err := json.Marshal(issuerURLRequest{Variant: o.variant, Nonce: hex.EncodeToString(nonce), UserData: hex.EncodeToString(userData)})
	if err != nil {
		return nil, fmt.Errorf("issuer url: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.issuerURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("issuer url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := issuerHTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("issuer url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxIssuerErrorBody))
		// Drain a little more so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("issuer url: HTTP %s: %q", resp.Status, snippet)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxIssuerOutput+1))
	if err != nil {
		return nil, fmt.Errorf("issuer url: reading the document: %w", err)
	}
	if len(doc) > maxIssuerOutput {
		return nil, fmt.Errorf("issuer url: document exceeds %d bytes", maxIssuerOutput)
	}
	if len(doc) == 0 {
		return nil, errors.New("issuer url: empty document")
	}
	return doc, nil
}

// cappedBuffer keeps at most limit bytes; a write beyond that fails (which makes
// os/exec close the pipe, so the child gets EPIPE/SIGPIPE instead of blocking).
type cappedBuffer struct {
	buf      bytes.Buffer
	limit    int
	overflow bool
	keepTail bool // keep the last limit bytes instead of failing (for stderr)
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) <= c.limit {
		return c.buf.Write(p)
	}
	c.overflow = true
	if c.keepTail {
		all := append(c.buf.Bytes(), p...)
		tail := append([]byte(nil), all[len(all)-c.limit:]...)
		c.buf.Reset()
		c.buf.Write(tail)
		return len(p), nil
	}
	return 0, fmt.Errorf("issuer command output exceeds %d bytes", c.limit)
}

// issuerProcs tracks the process groups of running issuer commands, so that none
// outlives the peer (a handshake can still be running when the RPC has given up).
var issuerProcs = struct {
	sync.Mutex
	pgids  map[int]struct{}
	closed bool
}{pgids: map[int]struct{}{}}

func killProcessGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// killIssuerCommands kills all running issuer commands and any started later.
func killIssuerCommands() {
	issuerProcs.Lock()
	defer issuerProcs.Unlock()
	issuerProcs.closed = true
	for pgid := range issuerProcs.pgids {
		killProcessGroup(pgid)
	}
}

// issuerCommandLine is the argument vector for one document (without argv[0]).
func issuerCommandLine(o *options, nonce, userData []byte) []string {
	return append(append([]string{}, o.issuerArgs.values...),
		"--nonce", hex.EncodeToString(nonce), "--user-data", hex.EncodeToString(userData))
}

// runIssuerCommand runs `--issuer-command <--issuer-arg…> --nonce <hex> --user-data
// <hex>` directly (no shell) in its own process group and returns its stdout. It
// fails on a non-zero exit, a timeout (the whole process group is killed), empty
// output or output over 1 MiB.
func runIssuerCommand(parent context.Context, o *options, nonce, userData []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, issuerTimeout)
	defer cancel()

	cmd := exec.Command(o.issuerCommand, issuerCommandLine(o, nonce, userData)...)
	stdout := &cappedBuffer{limit: maxIssuerOutput}
	stderr := &cappedBuffer{limit: maxIssuerStderr, keepTail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	issuerProcs.Lock()
	if issuerProcs.closed {
		issuerProcs.Unlock()
		return nil, errors.New("issuer command: peer is shutting down")
	}
	if err := cmd.Start(); err != nil {
		issuerProcs.Unlock()
		return nil, fmt.Errorf("issuer command: %w", err)
	}
	pgid := cmd.Process.Pid
	issuerProcs.pgids[pgid] = struct{}{}
	issuerProcs.Unlock()

	// Kill the whole group on timeout: a grandchild holding stdout open would
	// otherwise keep Wait from returning.
	done := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		select {
		case <-ctx.Done():
			killProcessGroup(pgid)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	<-killed
	// Clean up stragglers of a successful command, too (a grandchild left running in
	// the background must not outlive the handshake).
	killProcessGroup(pgid)
	issuerProcs.Lock()
	delete(issuerProcs.pgids, pgid)
	issuerProcs.Unlock()

	withStderr := func(msg string) error {
		if s := strings.TrimSpace(stderr.buf.String()); s != "" {
			msg += "; stderr: " + s
		}
		return errors.New(msg)
	}
	switch {
	case err == nil && !stdout.overflow:
		if stdout.buf.Len() == 0 {
			return nil, withStderr("issuer command: wrote no document to stdout")
		}
		return stdout.buf.Bytes(), nil
	case parent.Err() != nil:
		return nil, withStderr(fmt.Sprintf("issuer command: killed, handshake ended: %v", parent.Err()))
	case ctx.Err() != nil:
		return nil, withStderr(fmt.Sprintf("issuer command: killed after the %s timeout", issuerTimeout))
	case stdout.overflow:
		return nil, withStderr(fmt.Sprintf("issuer command: output exceeds %d bytes", maxIssuerOutput))
	default:
		return nil, withStderr(fmt.Sprintf("issuer command: %v", err))
	}
}
