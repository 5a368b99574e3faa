// Command atls-peer is a Go aTLS + grpc-go client that behaves like a Constellation
// node talking to the join service (with the built-in "dummy" attestation issuer, or
// with documents of any variant made by an external --issuer-command or fetched from
// an --issuer-url service, see issuer.go), or deliberately misbehaves (--mode). It
// prints exactly one JSON line on stdout.
// With --rpc join it sends a full IssueJoinTicketRequest like Constellation's
// bootstrapper (kubelet CSR, SSH host key, principals; see join.go) and checks the
// ticket as far as a node can.
//
// With --load (requires --rpc join, --mode good) it is the load generator of the
// join benchmark (load.go): --count N simulated nodes, each its own goroutine doing
// full joins like Constellation's joinclient (fresh keys per attempt, --call-timeout
// per attempt, --retry-interval between attempts, up to --max-attempts), arriving
// all at once (--arrival burst), spread over --window, or at --rate per second.
// Progress lines ("progress {json}") go to stderr every --progress-interval; the
// result line ({"mode":"load",...}) to stdout. SIGINT/SIGTERM end the run early and
// still print the result.
//
// Exit codes: 0 = ran as asked (even if the RPC failed; in load mode: the run
// completed, even with failed nodes), 2 = usage error, 1 = internal error of the
// peer itself.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	joinpb "joinpb/join"
)

var modes = []string{
	"good", "wrong-nonce", "wrong-key-hash", "missing-extension", "other-variant",
	"garbage-document", "big-document", "no-client-cert", "no-sni", "expired-cert",
	"slow-handshake",
}

func allModes() []string { return append(append([]string{}, modes...), joinModes...) }

type options struct {
	endpoint   string
	rpc        string
	diskUUID   string
	calls      int
	tlsVersion string
	timeout    time.Duration
	mode       string
	docSize    int
	hold       time.Duration
	count      int
	parallel   int
	verbose    bool

	// attestation
	variant       string
	issuerCommand string
	issuerArgs    listFlag
	issuerURL     string

	// --rpc join
	csrKey       string
	nodeName     string
	csrIPs       listFlag
	csrDNS       listFlag
	controlPlane bool
	principals   listFlag
	noPrincipals bool

	// --load
	load             bool
	arrival          string
	window           time.Duration
	rate             float64
	callTimeout      time.Duration
	retryInterval    time.Duration
	maxAttempts      int
	runTimeout       time.Duration
	progressInterval time.Duration
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "atls-peer: "+format+"\n", args...)
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{
		csrIPs: listFlag{values: []string{"10.9.0.5"}, split: true},
		csrDNS: listFlag{values: []string{"kubelet.dns-san.invalid"}, split: true},
	}
	fs := flag.NewFlagSet("atls-peer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.endpoint, "endpoint", "", "HOST:PORT of the join service (required)")
	fs.StringVar(&o.rpc, "rpc", "rejoin", "RPC to call: rejoin | join | unknown")
	fs.StringVar(&o.diskUUID, "disk-uuid", "00000000-0000-0000-0000-000000000000", "disk_uuid sent with --rpc rejoin/join")
	fs.IntVar(&o.calls, "calls", 1, "number of sequential RPCs on the same connection")
	fs.StringVar(&o.tlsVersion, "tls-version", "auto", "TLS version: 1.2 | 1.3 | auto (Go default, min 1.2)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "overall deadline per connection (handshake + all RPCs); TCP connect timeout for slow-handshake")
	fs.StringVar(&o.mode, "mode", "good", "behaviour: "+strings.Join(modes, " | ")+"; with --rpc join also: "+strings.Join(joinModes, " | "))
	fs.IntVar(&o.docSize, "doc-size", 64, "document size in bytes for garbage-document / big-document")
	fs.DurationVar(&o.hold, "hold", 30*time.Second, "slow-handshake: how long to keep the connection open")
	fs.IntVar(&o.count, "count", 1, "number of independent connections; with --load: number of nodes")
	fs.IntVar(&o.parallel, "parallel", 1, "maximum number of connections in flight (ignored with --load: every node is its own goroutine)")
	fs.BoolVar(&o.verbose, "verbose", false, "log handshake details to stderr")
	fs.StringVar(&o.variant, "variant", "dummy", "attestation variant whose extension OID carries the document: "+strings.Join(variantNames(), " | ")+"; other than dummy requires --issuer-command or --issuer-url")
	fs.StringVar(&o.issuerCommand, "issuer-command", "", "program that prints the attestation document (raw bytes on stdout, at most 1 MiB); run per handshake, without a shell, as CMD <--issuer-arg...> --nonce <hex server nonce> --user-data <hex SHA-256 of the certificate's SPKI>, 30 s timeout; --mode only good | wrong-nonce | wrong-key-hash")
	fs.Var(&o.issuerArgs, "issuer-arg", "leading argument for --issuer-command, repeatable")
	fs.StringVar(&o.issuerURL, "issuer-url", "", "http(s) URL of an issuer service, asked per handshake instead of --issuer-command: POST {\"variant\":\"<--variant>\",\"nonce\":\"<hex>\",\"userData\":\"<hex>\"} (application/json); a 200 answer's body is the raw document (at most 1 MiB), any other status fails the handshake; keep-alive client shared by all handshakes, 30 s timeout; --mode only good | wrong-nonce | wrong-key-hash")
	fs.StringVar(&o.csrKey, "csr-key", "ecdsa", "join: key type of the kubelet CSR: "+strings.Join(csrKeyTypes, " | ")+" (ecdsa = P-256, rsa = 2048 bit)")
	fs.StringVar(&o.nodeName, "node-name", "worker-0", "join: node name (CSR CN system:node:<name>)")
	fs.Var(&o.csrIPs, "csr-ip", "join: IP SAN(s) of the CSR, repeatable or comma-separated; \"\" for none")
	fs.Var(&o.csrDNS, "csr-dns", "join: DNS SAN(s) of the CSR (the service drops them), repeatable or comma-separated; \"\" for none")
	fs.BoolVar(&o.controlPlane, "control-plane", false, "join: set is_control_plane")
	fs.Var(&o.principals, "principal", "join: SSH host certificate principal, repeatable (default: the --csr-ip values, then --node-name)")
	fs.BoolVar(&o.noPrincipals, "no-principals", false, "join: send no host certificate principals")
	fs.BoolVar(&o.load, "load", false, "load mode (requires --rpc join, --mode good): --count nodes each join like a Constellation node with retries; --node-name is the prefix of the node names <prefix>-<i>; --calls must be 1, --timeout and --parallel are ignored; prints progress lines on stderr and one result line on stdout")
	fs.StringVar(&o.arrival, "arrival", "burst", "load: how nodes arrive: burst (all at once) | window (node i at i*--window/N) | rate (node i at i/--rate s)")
	fs.DurationVar(&o.window, "window", 0, "load: --arrival window: duration over which the arrivals are spread")
	fs.Float64Var(&o.rate, "rate", 0, "load: --arrival rate: arrivals per second (float)")
	fs.DurationVar(&o.callTimeout, "call-timeout", 30*time.Second, "load: deadline of one attempt (dial + aTLS handshake + IssueJoinTicket), like Constellation's joinclient")
	fs.DurationVar(&o.retryInterval, "retry-interval", 30*time.Second, "load: wait after a failed attempt before the next one, like Constellation's joinclient")
	fs.IntVar(&o.maxAttempts, "max-attempts", 0, "load: attempts per node before it counts as failed (0 = unlimited, until --run-timeout)")
	fs.DurationVar(&o.runTimeout, "run-timeout", 15*time.Minute, "load: nodes not joined this long after the run started count as failed (cause run-timeout)")
	fs.DurationVar(&o.progressInterval, "progress-interval", time.Second, "load: interval of the \"progress {json}\" lines on stderr (0 = off)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: atls-peer --endpoint HOST:PORT [flags]\n")
		fmt.Fprintf(fs.Output(), "       atls-peer --endpoint HOST:PORT --rpc join --load --count N [--arrival burst | --arrival window --window DUR | --arrival rate --rate R] [flags]\n")
		fmt.Fprintf(fs.Output(), "load mode: stderr gets \"progress {json}\" lines, stdout one line {\"mode\":\"load\",\"total\",\"joined\",\"failed\",\"retries\",\"errorsByCause\",\"latencyMs\",\"nodes\",...};\n")
		fmt.Fprintf(fs.Output(), "error causes: dial | handshake | issuer | deadline | grpc:<Code> | ticket-check | run-timeout | interrupted | other\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &usageError{"help requested"}
		}
		return nil, &usageError{err.Error()}
	}
	bad := func(format string, a ...interface{}) (*options, error) {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintf(stderr, "atls-peer: %s\n", msg)
		fs.Usage()
		return nil, &usageError{msg}
	}
	if fs.NArg() > 0 {
		return bad("unexpected arguments: %q", fs.Args())
	}
	if o.endpoint == "" {
		return bad("--endpoint is required")
	}
	switch o.rpc {
	case "rejoin", "join", "unknown":
	default:
		return bad("invalid --rpc %q", o.rpc)
	}
	switch o.tlsVersion {
	case "1.2", "1.3", "auto":
	default:
		return bad("invalid --tls-version %q", o.tlsVersion)
	}
	known := false
	for _, m := range allModes() {
		known = known || m == o.mode
	}
	if !known {
		return bad("invalid --mode %q", o.mode)
	}
	if isJoinMode(o.mode) && o.rpc != "join" {
		return bad("--mode %s requires --rpc join", o.mode)
	}
	if _, ok := variantOIDs[o.variant]; !ok {
		return bad("invalid --variant %q (known: %s)", o.variant, strings.Join(variantNames(), ", "))
	}
	if o.issuerCommand != "" && o.issuerURL != "" {
		return bad("--issuer-command and --issuer-url are mutually exclusive")
	}
	if o.issuerCommand == "" && o.issuerArgs.set {
		return bad("--issuer-arg requires --issuer-command")
	}
	if o.issuerCommand == "" && o.issuerURL == "" {
		if o.variant != "dummy" {
			return bad("--variant %s requires --issuer-command or --issuer-url (the built-in issuer only makes dummy documents)", o.variant)
		}
	} else {
		which := "--issuer-command"
		if o.issuerURL != "" {
			which = "--issuer-url"
		}
		known = false
		for _, m := range issuerModes {
			known = known || m == o.mode
		}
		if !known {
			return bad("--mode %s cannot be used with %s (only %s)", o.mode, which, strings.Join(issuerModes, " | "))
		}
		if o.issuerCommand != "" {
			if _, err := exec.LookPath(o.issuerCommand); err != nil {
				return bad("invalid --issuer-command: %v", err)
			}
		} else if u, err := url.Parse(o.issuerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("invalid --issuer-url %q (want http://HOST:PORT/PATH or https://…)", o.issuerURL)
		}
	}
	known = false
	for _, k := range csrKeyTypes {
		known = known || k == o.csrKey
	}
	if !known {
		return bad("invalid --csr-key %q", o.csrKey)
	}
	for _, ip := range o.csrIPs.values {
		if net.ParseIP(ip) == nil {
			return bad("invalid --csr-ip %q", ip)
		}
	}
	if o.noPrincipals && o.principals.set {
		return bad("--principal and --no-principals are mutually exclusive")
	}
	if o.calls < 1 || o.count < 1 || o.parallel < 1 {
		return bad("--calls, --count and --parallel must be >= 1")
	}
	if o.timeout <= 0 || o.hold <= 0 {
		return bad("--timeout and --hold must be > 0")
	}
	if o.docSize < 0 {
		return bad("--doc-size must be >= 0")
	}
	if o.mode == "big-document" && o.docSize < minPaddedDocumentSize() {
		return bad("--doc-size must be >= %d for big-document", minPaddedDocumentSize())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if msg := checkLoadFlags(o, set); msg != "" {
		return bad("%s", msg)
	}
	return o, nil
}

// connResult is the outcome of one connection (handshake + --calls RPCs).
type connResult struct {
	code           string
	message        string
	calls          int
	elapsed        time.Duration
	tlsVersion     string
	alpn           *string
	stateDiskKey   []byte
	measSecret     []byte
	hasKeys        bool
	join           *joinRequest
	ticket         *joinpb.IssueJoinTicketResponse
	transportError string
	handshakeError string
	slow           *slowResult
}

// peerErrorCode marks a failure of the peer itself (exit code 1 for --count 1).
const peerErrorCode = "PeerError"

func (r *connResult) ok() bool { return r.code == codes.OK.String() }

func invoke(ctx context.Context, cc *grpc.ClientConn, o *options, r *connResult) error {
	switch o.rpc {
	case "rejoin":
		resp := &joinpb.IssueRejoinTicketResponse{}
		if err := cc.Invoke(ctx, "/join.API/IssueRejoinTicket", &joinpb.IssueRejoinTicketRequest{DiskUuid: o.diskUUID}, resp); err != nil {
			return err
		}
		r.stateDiskKey, r.measSecret, r.hasKeys = resp.GetStateDiskKey(), resp.GetMeasurementSecret(), true
	case "join":
		resp := &joinpb.IssueJoinTicketResponse{}
		if err := cc.Invoke(ctx, "/join.API/IssueJoinTicket", r.join.req, resp); err != nil {
			return err
		}
		r.stateDiskKey, r.measSecret, r.hasKeys = resp.GetStateDiskKey(), resp.GetMeasurementSecret(), true
		r.ticket = resp
	case "unknown":
		if err := cc.Invoke(ctx, "/join.API/DoesNotExist", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			return err
		}
	}
	return nil
}

func runConnection(o *options, id int) *connResult {
	r := &connResult{code: codes.OK.String()}
	if o.rpc == "join" && o.mode != "slow-handshake" {
		// One request per connection (fresh CSR and host keys, like a node), reused
		// for --calls; built before the clock starts so that key generation does not
		// count towards elapsedMs / latencyMs.
		j, err := buildJoinRequest(o)
		if err != nil {
			r.code, r.message = peerErrorCode, "building the join request: "+err.Error()
			return r
		}
		r.join = j
	}
	start := time.Now()
	if o.mode == "slow-handshake" {
		s := runSlow(o)
		r.slow = &s
		r.code, r.message = s.code, s.message
		r.elapsed = time.Since(start)
		return r
	}
	p := newPeer(o, id)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	// Lazy dial like Constellation's join/rejoin clients: the first (fail-fast) RPC
	// triggers the connection, and its deadline includes the aTLS handshake.
	cc, err := grpc.DialContext(ctx, o.endpoint, grpc.WithTransportCredentials(p))
	if err != nil {
		st := status.Convert(err)
		r.code, r.message = st.Code().String(), st.Message()
		r.elapsed = time.Since(start)
		return r
	}
	for i := 0; i < o.calls; i++ {
		if err := invoke(ctx, cc, o, r); err != nil {
			st := status.Convert(err)
			r.code, r.message = st.Code().String(), st.Message()
			break
		}
		r.calls++
	}
	r.elapsed = time.Since(start)
	if st := p.tlsState(); st != nil {
		r.tlsVersion = tlsVersionName(st.Version)
		alpn := st.NegotiatedProtocol
		r.alpn = &alpn
	}
	var hsErr error
	r.transportError, hsErr = p.diagnostics()
	if hsErr != nil {
		r.handshakeError = hsErr.Error()
	}
	_ = cc.Close()
	if !r.ok() {
		logf("[conn %d] %s: %s (transport: %q, handshake: %q)", id, r.code, r.message, r.transportError, r.handshakeError)
	}
	return r
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}

type singleOutput struct {
	OK                bool     `json:"ok"`
	Code              string   `json:"code"`
	Message           *string  `json:"message,omitempty"`
	TLSVersion        string   `json:"tlsVersion,omitempty"`
	ALPN              *string  `json:"alpn,omitempty"`
	StateDiskKey      *string  `json:"stateDiskKey,omitempty"`
	MeasurementSecret *string  `json:"measurementSecret,omitempty"`
	Calls             *int     `json:"calls,omitempty"`
	ElapsedMs         float64  `json:"elapsedMs"`
	TransportError    string   `json:"transportError,omitempty"`
	HandshakeError    string   `json:"handshakeError,omitempty"`
	ClosedAfterMs     *float64 `json:"closedAfterMs,omitempty"`
	BytesReceived     *int     `json:"bytesReceived,omitempty"`
	// --rpc join: the ticket (on success) and the request that was sent.
	*JoinTicketOutput
	*JoinRequestOutput
}

type slowOutput struct {
	OK            bool     `json:"ok"`
	Code          string   `json:"code"`
	Message       string   `json:"message,omitempty"`
	ClosedAfterMs *float64 `json:"closedAfterMs"`
	BytesReceived int      `json:"bytesReceived"`
	ElapsedMs     float64  `json:"elapsedMs"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type multiOutput struct {
	OK        bool           `json:"ok"`
	Count     int            `json:"count"`
	Succeeded int            `json:"succeeded"`
	Failed    int            `json:"failed"`
	Codes     map[string]int `json:"codes"`
	ElapsedMs float64        `json:"elapsedMs"`
	LatencyMs latency        `json:"latencyMs"`
	Errors    []string       `json:"errors,omitempty"`
}

func singleJSON(r *connResult) interface{} {
	if r.slow != nil {
		out := slowOutput{OK: false, Code: r.code, Message: r.message, BytesReceived: r.slow.bytesReceived, ElapsedMs: ms(r.elapsed)}
		if r.code == "ClosedByServer" {
			v := ms(r.slow.closedAfter)
			out.ClosedAfterMs = &v
		}
		return out
	}
	calls := r.calls
	out := singleOutput{OK: r.ok(), Code: r.code, TLSVersion: r.tlsVersion, ALPN: r.alpn, Calls: &calls, ElapsedMs: ms(r.elapsed)}
	if r.ok() {
		if r.hasKeys {
			k, s := hex.EncodeToString(r.stateDiskKey), hex.EncodeToString(r.measSecret)
			out.StateDiskKey, out.MeasurementSecret = &k, &s
		}
		if r.ticket != nil {
			out.JoinTicketOutput = ticketOutput(r.join, r.ticket)
		}
	} else {
		msg := r.message
		out.Message = &msg
		out.TransportError = r.transportError
		out.HandshakeError = r.handshakeError
	}
	if r.join != nil {
		out.JoinRequestOutput = r.join.output()
	}
	return out
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func multiJSON(results []*connResult, elapsed time.Duration) multiOutput {
	out := multiOutput{OK: true, Count: len(results), Codes: map[string]int{}, ElapsedMs: ms(elapsed)}
	lat := make([]float64, 0, len(results))
	seen := map[string]bool{}
	for _, r := range results {
		out.Codes[r.code]++
		if r.ok() {
			out.Succeeded++
		} else {
			out.Failed++
			out.OK = false
			key := r.code
			if r.message != "" {
				key += ": " + r.message
			}
			if !seen[key] && len(out.Errors) < 5 {
				seen[key] = true
				out.Errors = append(out.Errors, key)
			}
		}
		d := r.elapsed
		if r.slow != nil {
			d = r.slow.closedAfter
			if r.code == "StillOpen" {
				d = r.elapsed
			}
		}
		lat = append(lat, ms(d))
	}
	sort.Float64s(lat)
	out.LatencyMs = latency{P50: percentile(lat, 50), P90: percentile(lat, 90), P99: percentile(lat, 99), Max: percentile(lat, 100)}
	return out
}

func run(args []string, stdout, stderr io.Writer) int {
	emit := func(v interface{}) {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(`{"ok":false,"code":"PeerError","message":"cannot encode result"}`)
		}
		fmt.Fprintln(stdout, string(b))
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		emit(struct {
			OK      bool   `json:"ok"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}{false, "UsageError", err.Error()})
		return 2
	}

	defer killIssuerCommands()
	if o.load {
		return runLoad(o, stdout, stderr)
	}
	start := time.Now()
	if o.count == 1 {
		r := runConnection(o, 0)
		emit(singleJSON(r))
		if r.code == peerErrorCode {
			return 1
		}
		return 0
	}
	results := make([]*connResult, o.count)
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	for i := 0; i < o.count; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = runConnection(o, i)
		}(i)
	}
	wg.Wait()
	emit(multiJSON(results, time.Since(start)))
	return 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
