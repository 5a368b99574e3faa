package main

// Load mode (--load): the load generator of the join benchmark. --count N simulated
// Constellation nodes, each its own goroutine, join like the bootstrapper's
// joinclient does:
//
//   - one attempt = build a fresh IssueJoinTicketRequest (fresh CSR key and SSH host
//     key, node name <--node-name>-<i>), then dial + aTLS handshake (fresh client key,
//     attestation document bound to the server's nonce) + IssueJoinTicket under one
//     --call-timeout deadline (30 s), on a fresh grpc.ClientConn;
//   - a failed attempt is followed by --retry-interval (30 s) of waiting, then the
//     next attempt, up to --max-attempts (0 = until the run ends);
//   - the ticket is checked as in the single join (join.go); a failed check ends the
//     attempt with cause "ticket-check".
//
// Arrivals: burst (all nodes at run start), window (node i at i*--window/N) or rate
// (node i at i/--rate s). One scheduler goroutine starts the nodes in order, so the
// measured arrival times are monotonic in i.
//
// Clocks: the run starts when the scheduler starts (startUnixMs; offsets in ms
// from there). arrivalMs is when node i's goroutine was started, doneMs when it
// joined (after the ticket check) or failed for good; latencyMs = doneMs -
// arrivalMs includes key generation, all attempts and the waits between them. The
// attempt latency is measured from the start of the dial to the end of the RPC
// (excluding key generation and the ticket check).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	joinpb "joinpb/join"
)

// Error causes of failed attempts / nodes (stable strings, part of the output
// contract); gRPC status failures are "grpc:<CodeName>".
const (
	causeDial        = "dial"
	causeHandshake   = "handshake"
	causeIssuer      = "issuer"
	causeDeadline    = "deadline"
	causeTicketCheck = "ticket-check"
	causeRunTimeout  = "run-timeout"
	causeInterrupted = "interrupted"
	causeOther       = "other"
)

// maxErrorText bounds every error text in the output.
const maxErrorText = 200

// stopGrace is how long the run waits for node goroutines after it was stopped
// (run timeout, signal) before it reports them as failed anyway.
const stopGrace = 10 * time.Second

var loadOnlyFlags = []string{"arrival", "window", "rate", "call-timeout", "retry-interval", "max-attempts", "run-timeout", "progress-interval"}

// checkLoadFlags validates the --load flags; set holds the flags given explicitly.
// It returns a usage error message or "".
func checkLoadFlags(o *options, set map[string]bool) string {
	if !o.load {
		for _, f := range loadOnlyFlags {
			if set[f] {
				return fmt.Sprintf("--%s requires --load", f)
			}
		}
		return ""
	}
	switch {
	case o.rpc != "join":
		return "--load requires --rpc join"
	case o.mode != "good":
		return "--load requires --mode good"
	case o.calls != 1:
		return "--calls cannot be used with --load (one IssueJoinTicket per attempt)"
	}
	switch o.arrival {
	case "burst", "window", "rate":
	default:
		return fmt.Sprintf("invalid --arrival %q (burst | window | rate)", o.arrival)
	}
	if set["window"] != (o.arrival == "window") {
		return "--window is required with, and only allowed with, --arrival window"
	}
	if set["rate"] != (o.arrival == "rate") {
		return "--rate is required with, and only allowed with, --arrival rate"
	}
	if o.arrival == "window" && o.window <= 0 {
		return "--window must be > 0"
	}
	if o.arrival == "rate" && (!(o.rate > 0) || math.IsInf(o.rate, 0)) {
		return "--rate must be a finite number > 0"
	}
	switch {
	case o.callTimeout <= 0:
		return "--call-timeout must be > 0"
	case o.retryInterval < 0:
		return "--retry-interval must be >= 0"
	case o.maxAttempts < 0:
		return "--max-attempts must be >= 0"
	case o.runTimeout <= 0:
		return "--run-timeout must be > 0"
	case o.progressInterval < 0:
		return "--progress-interval must be >= 0"
	}
	return ""
}

// arrivalOffset is when node i arrives, relative to the run start.
func arrivalOffset(o *options, i int) time.Duration {
	switch o.arrival {
	case "window":
		return time.Duration(float64(o.window) * float64(i) / float64(o.count))
	case "rate":
		return time.Duration(float64(i) / o.rate * float64(time.Second))
	}
	return 0
}

// boundText shortens s to at most maxErrorText bytes (at a rune boundary).
func boundText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// nodeState is what the run knows about one node (guarded by loadRun.mu).
type nodeState struct {
	arrival        time.Time // zero: never started
	done           time.Time // zero: still running
	attempts       int
	ok             bool
	lastError      string
	attemptLatency time.Duration // of the successful attempt
}

type loadRun struct {
	o      *options
	stderr io.Writer
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.Mutex // guards everything below
	stopCause    string     // run-timeout | interrupted, once the run was stopped
	finalized    bool       // the result was taken; late updates are dropped
	joined       int
	failed       int
	inFlight     int
	waitingRetry int
	retries      int
	errors       map[string]int
	nodes        []nodeState
	lastJoined   int       // joined at the previous progress line
	lastProgress time.Time // time of the previous progress line
}

// stop ends the run early (first cause wins).
func (l *loadRun) stop(cause string) {
	l.mu.Lock()
	if l.stopCause == "" {
		l.stopCause = cause
	}
	l.mu.Unlock()
	l.cancel()
}

func (l *loadRun) stopped() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopCause
}

// endNodeLocked records node i's final outcome.
func (l *loadRun) endNodeLocked(i int, ok bool, lastError string) {
	n := &l.nodes[i]
	if !n.done.IsZero() {
		return
	}
	n.done = time.Now()
	n.ok = ok
	if ok {
		l.joined++
	} else {
		l.failed++
		n.lastError = boundText(lastError)
	}
}

// failNode ends node i without an attempt in flight (stopped while waiting or
// before it arrived); the stop cause is counted once for the node.
func (l *loadRun) failNode(i int, cause, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finalized {
		return
	}
	l.errors[cause]++
	if prev := l.nodes[i].lastError; prev != "" {
		msg += " (last attempt: " + prev + ")"
	}
	l.endNodeLocked(i, false, cause+": "+msg)
}

// attemptResult is the outcome of one attempt.
type attemptResult struct {
	ok      bool
	cause   string
	message string
	latency time.Duration
}

func (l *loadRun) beginAttempt(i, attempt int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finalized {
		return
	}
	l.nodes[i].attempts = attempt
	if attempt > 1 {
		l.retries++
	}
	l.inFlight++
}

// endAttempt records an attempt's outcome and reports whether the node is done.
func (l *loadRun) endAttempt(i int, r attemptResult) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finalized {
		return true
	}
	l.inFlight--
	if r.ok {
		l.nodes[i].attemptLatency = r.latency
		l.endNodeLocked(i, true, "")
		return true
	}
	l.errors[r.cause]++
	lastError := r.cause + ": " + r.message
	if r.cause == causeRunTimeout || r.cause == causeInterrupted ||
		(l.o.maxAttempts > 0 && l.nodes[i].attempts >= l.o.maxAttempts) {
		l.endNodeLocked(i, false, lastError)
		return true
	}
	l.nodes[i].lastError = boundText(lastError)
	l.waitingRetry++
	return false
}

func (l *loadRun) endWait() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.finalized {
		l.waitingRetry--
	}
}

// nodeOptions are the options of node i: the node name is <--node-name>-<i>.
func (l *loadRun) nodeOptions(i int) *options {
	no := *l.o
	no.nodeName = fmt.Sprintf("%s-%d", l.o.nodeName, i)
	return &no
}

// runNode is one node: attempts until it joined, ran out of attempts or the run ended.
func (l *loadRun) runNode(i int) {
	o := l.nodeOptions(i)
	for attempt := 1; ; attempt++ {
		if cause := l.stopped(); cause != "" {
			l.failNode(i, cause, "the run ended while the node waited to retry")
			return
		}
		l.beginAttempt(i, attempt)
		if l.endAttempt(i, l.attempt(o, i)) {
			return
		}
		t := time.NewTimer(l.o.retryInterval)
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
		}
		l.endWait()
	}
}

// attempt is one join attempt of node i, like one JoinClient.join of Constellation.
func (l *loadRun) attempt(o *options, i int) attemptResult {
	j, err := buildJoinRequest(o)
	if err != nil {
		return attemptResult{cause: causeOther, message: "building the join request: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(l.ctx, o.callTimeout)
	defer cancel()
	start := time.Now()

	var dialMu sync.Mutex
	var dialErr error
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			dialMu.Lock()
			if dialErr == nil {
				dialErr = err
			}
			dialMu.Unlock()
		}
		return c, err
	}
	p := newPeer(o, i)
	// Lazy dial like Constellation's joinclient: the fail-fast RPC triggers the
	// connection, and its deadline covers dial + handshake + RPC.
	cc, err := grpc.DialContext(ctx, o.endpoint, grpc.WithTransportCredentials(p), grpc.WithContextDialer(dialer))
	if err != nil {
		return attemptResult{cause: causeOther, message: "grpc dial: " + err.Error(), latency: time.Since(start)}
	}
	defer cc.Close()
	resp := &joinpb.IssueJoinTicketResponse{}
	err = cc.Invoke(ctx, "/join.API/IssueJoinTicket", j.req, resp)
	latency := time.Since(start)
	if err == nil {
		if checks := ticketOutput(j, resp).Checks; len(checks.Errors) > 0 {
			return attemptResult{cause: causeTicketCheck, message: strings.Join(checks.Errors, "; "), latency: latency}
		}
		return attemptResult{ok: true, latency: latency}
	}

	r := attemptResult{latency: latency}
	transportErr, hsErr := p.diagnostics()
	dialMu.Lock()
	dErr := dialErr
	dialMu.Unlock()
	st := status.Convert(err)
	var ie *issuerError
	switch {
	case l.ctx.Err() != nil:
		r.cause = l.stopped()
		if r.cause == "" {
			r.cause = causeOther
		}
		r.message = "the run ended during the attempt: " + st.Message()
	case dErr != nil:
		r.cause, r.message = causeDial, dErr.Error()
	case hsErr != nil && (errors.As(hsErr, &ie) || strings.Contains(hsErr.Error(), "(client certificate: issuer ")):
		r.cause, r.message = causeIssuer, hsErr.Error()
	case hsErr != nil:
		r.cause, r.message = causeHandshake, hsErr.Error()
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || st.Code() == codes.DeadlineExceeded:
		r.cause, r.message = causeDeadline, fmt.Sprintf("no ticket within --call-timeout %s: %s", o.callTimeout, st.Message())
	case strings.Contains(transportErr, "remote error: tls"):
		// TLS 1.3: the server rejects the client certificate after the client
		// finished its handshake.
		r.cause, r.message = causeHandshake, transportErr
	default:
		// Also a server that closes the connection after the handshake (how the
		// TypeScript service rejects an attestation or sheds load): Unavailable,
		// "connection closed", with the read error as the detail.
		r.cause, r.message = "grpc:"+st.Code().String(), st.Message()
		if transportErr != "" {
			r.message += " (transport: " + transportErr + ")"
		}
	}
	if o.verbose {
		logf("[node %d] %s: %s", i, r.cause, boundText(r.message))
	}
	return r
}

// progressLine is one "progress {json}" line on stderr.
type progressLine struct {
	ElapsedMs    float64        `json:"elapsedMs"`
	Joined       int            `json:"joined"`
	Failed       int            `json:"failed"`
	InFlight     int            `json:"inFlight"`
	WaitingRetry int            `json:"waitingRetry"`
	Total        int            `json:"total"`
	Retries      int            `json:"retries"`
	RatePerSec   float64        `json:"ratePerSec"`
	Errors       map[string]int `json:"errors"`
}

func copyCounts(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (l *loadRun) printProgress() {
	l.mu.Lock()
	now := time.Now()
	rate := 0.0
	if d := now.Sub(l.lastProgress).Seconds(); d > 0 {
		rate = math.Round(float64(l.joined-l.lastJoined)/d*1000) / 1000
	}
	line := progressLine{
		ElapsedMs: ms(now.Sub(l.start)), Joined: l.joined, Failed: l.failed, InFlight: l.inFlight,
		WaitingRetry: l.waitingRetry, Total: l.o.count, Retries: l.retries, RatePerSec: rate,
		Errors: copyCounts(l.errors),
	}
	l.lastJoined, l.lastProgress = l.joined, now
	l.mu.Unlock()
	if b, err := json.Marshal(line); err == nil {
		fmt.Fprintf(l.stderr, "progress %s\n", b)
	}
}

type loadLatency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type attemptLatency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

type nodeOutput struct {
	I         int     `json:"i"`
	ArrivalMs float64 `json:"arrivalMs"`
	DoneMs    float64 `json:"doneMs"`
	LatencyMs float64 `json:"latencyMs"`
	Attempts  int     `json:"attempts"`
	OK        bool    `json:"ok"`
	LastError string  `json:"lastError,omitempty"`
}

// loadOutput is the result line of a load run.
type loadOutput struct {
	Mode             string         `json:"mode"`
	Arrival          string         `json:"arrival"`
	Total            int            `json:"total"`
	Joined           int            `json:"joined"`
	Failed           int            `json:"failed"`
	Retries          int            `json:"retries"`
	DurationMs       float64        `json:"durationMs"`
	StartUnixMs      int64          `json:"startUnixMs"`
	ErrorsByCause    map[string]int `json:"errorsByCause"`
	LatencyMs        loadLatency    `json:"latencyMs"`
	Nodes            []nodeOutput   `json:"nodes"`
	AttemptLatencyMs attemptLatency `json:"attemptLatencyMs"`
	// Interrupted is only present (true) when SIGINT/SIGTERM ended the run.
	Interrupted bool `json:"interrupted,omitempty"`
}

// result finalizes the run: nodes still running (only after the stop grace) count
// as failed with the stop cause; later updates from their goroutines are dropped.
func (l *loadRun) result() loadOutput {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.nodes {
		if l.nodes[i].done.IsZero() {
			cause := l.stopCause
			if cause == "" {
				cause = causeOther
			}
			l.errors[cause]++
			l.endNodeLocked(i, false, cause+": the node did not finish")
		}
	}
	l.finalized = true

	out := loadOutput{
		Mode: "load", Arrival: l.o.arrival, Total: l.o.count, Joined: l.joined, Failed: l.failed,
		Retries: l.retries, StartUnixMs: l.start.UnixNano() / int64(time.Millisecond),
		ErrorsByCause: copyCounts(l.errors), Nodes: make([]nodeOutput, len(l.nodes)),
		Interrupted: l.stopCause == causeInterrupted,
	}
	var first, last time.Time
	var lat, att []float64
	for i := range l.nodes {
		n := &l.nodes[i]
		arrival := n.arrival
		if arrival.IsZero() {
			arrival = l.start.Add(arrivalOffset(l.o, i)) // never started: the scheduled time
		} else {
			if first.IsZero() || arrival.Before(first) {
				first = arrival
			}
			if n.done.After(last) {
				last = n.done
			}
		}
		latency := n.done.Sub(arrival)
		if latency < 0 {
			latency = 0
		}
		out.Nodes[i] = nodeOutput{I: i, ArrivalMs: ms(arrival.Sub(l.start)), DoneMs: ms(n.done.Sub(l.start)), LatencyMs: ms(latency), Attempts: n.attempts, OK: n.ok}
		if n.ok {
			lat = append(lat, ms(latency))
			att = append(att, ms(n.attemptLatency))
		} else {
			out.Nodes[i].LastError = n.lastError
		}
	}
	if !first.IsZero() && last.After(first) {
		out.DurationMs = ms(last.Sub(first))
	}
	sort.Float64s(lat)
	sort.Float64s(att)
	out.LatencyMs = loadLatency{P50: percentile(lat, 50), P95: percentile(lat, 95), P99: percentile(lat, 99), Max: percentile(lat, 100)}
	out.AttemptLatencyMs = attemptLatency{P50: percentile(att, 50), P99: percentile(att, 99)}
	return out
}

// runLoad runs --load and prints the result line; it returns the exit code.
func runLoad(o *options, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &loadRun{o: o, stderr: stderr, ctx: ctx, cancel: cancel, errors: map[string]int{}, nodes: make([]nodeState, o.count)}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			// A second signal gets the default behaviour (terminate at once).
			signal.Stop(sigs)
			l.stop(causeInterrupted)
		case <-ctx.Done():
		}
	}()

	l.start = time.Now()
	l.lastProgress = l.start
	runTimer := time.AfterFunc(o.runTimeout, func() { l.stop(causeRunTimeout) })
	defer runTimer.Stop()

	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	if o.progressInterval > 0 {
		progressWG.Add(1)
		go func() {
			defer progressWG.Done()
			t := time.NewTicker(o.progressInterval)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					l.printProgress()
				case <-progressDone:
					return
				}
			}
		}()
	}

	// The scheduler: starts the nodes in order at their arrival times.
	var wg sync.WaitGroup
	for i := 0; i < o.count; i++ {
		if d := time.Until(l.start.Add(arrivalOffset(o, i))); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if cause := l.stopped(); cause != "" {
			for k := i; k < o.count; k++ {
				l.failNode(k, cause, "the run ended before the node arrived")
			}
			break
		}
		l.mu.Lock()
		l.nodes[i].arrival = time.Now()
		l.mu.Unlock()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l.runNode(i)
		}(i)
	}

	// Wait for the nodes; once the run was stopped, give them stopGrace to wind down.
	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()
	select {
	case <-allDone:
	case <-ctx.Done():
		select {
		case <-allDone:
		case <-time.After(stopGrace):
			logf("load: %d node goroutines still running %s after the run was stopped; reporting them as failed", o.count-l.finishedCount(), stopGrace)
		}
	}
	out := l.result()
	close(progressDone)
	progressWG.Wait()
	if o.progressInterval > 0 {
		l.printProgress() // the final state, so that every run has at least one line
	}
	b, err := json.Marshal(out)
	if err != nil {
		logf("load: cannot encode the result: %v", err)
		return 1
	}
	fmt.Fprintln(stdout, string(b))
	return 0
}

func (l *loadRun) finishedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.joined + l.failed
}
