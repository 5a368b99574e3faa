package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc/credentials"
)

// peer holds the state of one logical connection (one grpc.ClientConn). It is the
// grpc TransportCredentials: every ClientHandshake gets a fresh tls.Config with a
// fresh client nonce (like Constellation's atlscredentials), and the SNI is our
// nonce, never grpc's target authority.
type peer struct {
	opts *options
	id   int

	mu             sync.Mutex
	handshakes     int
	state          *tls.ConnectionState
	handshakeErr   error
	clientCertErr  error // last error of the GetClientCertificate callback
	transportError string
}

var _ credentials.TransportCredentials = (*peer)(nil)

func newPeer(opts *options, id int) *peer {
	return &peer{opts: opts, id: id}
}

func (p *peer) logf(format string, args ...interface{}) {
	if p.opts.verbose {
		logf("[conn %d] "+format, append([]interface{}{p.id}, args...)...)
	}
}

// http2CipherSuites are the TLS 1.2 suites grpc-go's default TLS credentials use
// (Go's secure suites minus those forbidden by HTTP/2): ECDHE with AES-GCM or
// ChaCha20-Poly1305. TLS 1.3 suites are not configurable in Go.
var http2CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

func (p *peer) newTLSConfig() (*tls.Config, error) {
	clientNonce, err := randomBytes(nonceLen)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verifyServerCertificate,
		GetClientCertificate:  p.getClientCertificate,
		MinVersion:            tls.VersionTLS12,
		NextProtos:            []string{"http/1.1", "h2"},
		CipherSuites:          http2CipherSuites,
	}
	if p.opts.mode != "no-sni" {
		cfg.ServerName = base64.StdEncoding.EncodeToString(clientNonce)
	}
	switch p.opts.tlsVersion {
	case "1.2":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	case "1.3":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	}
	p.logf("ClientHello: SNI=%q", cfg.ServerName)
	return cfg, nil
}

// ClientHandshake implements credentials.TransportCredentials.
func (p *peer) ClientHandshake(ctx context.Context, _ string, rawConn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	cfg, err := p.newTLSConfig()
	if err != nil {
		return nil, nil, err
	}
	conn := tls.Client(rawConn, cfg)
	err = conn.HandshakeContext(ctx)
	p.mu.Lock()
	p.handshakes++
	if err != nil {
		// When the handshake context ends while the callback runs (e.g. a hanging
		// --issuer-command), crypto/tls reports only the context error.
		// Only the reported error is extended; grpc-go gets err unchanged.
		p.handshakeErr = err
		if p.clientCertErr != nil && !strings.Contains(err.Error(), p.clientCertErr.Error()) {
			p.handshakeErr = fmt.Errorf("%w (client certificate: %v)", err, p.clientCertErr)
		}
	}
	p.clientCertErr = nil
	p.mu.Unlock()
	if err != nil {
		p.logf("handshake failed: %v", err)
		_ = conn.Close()
		return nil, nil, err
	}
	st := conn.ConnectionState()
	p.mu.Lock()
	p.state = &st
	p.mu.Unlock()
	p.logf("handshake done: %s alpn=%q", tlsVersionName(st.Version), st.NegotiatedProtocol)
	info := credentials.TLSInfo{
		State:          st,
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}
	return &diagConn{Conn: conn, p: p}, info, nil
}

// getClientCertificate is the GetClientCertificate callback; it records errors for
// ClientHandshake.
func (p *peer) getClientCertificate(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cert, err := p.clientCertificate(cri)
	if err != nil {
		p.mu.Lock()
		p.clientCertErr = err
		p.mu.Unlock()
	}
	return cert, err
}

// ServerHandshake implements credentials.TransportCredentials (client only).
func (p *peer) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("atls-peer: server handshake not supported")
}

// Info implements credentials.TransportCredentials.
func (p *peer) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2"}
}

// Clone implements credentials.TransportCredentials.
func (p *peer) Clone() credentials.TransportCredentials {
	return newPeer(p.opts, p.id)
}

// OverrideServerName implements credentials.TransportCredentials; the SNI always
// carries the nonce, so this is ignored.
func (p *peer) OverrideServerName(string) error { return nil }

func (p *peer) tlsState() *tls.ConnectionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

func (p *peer) diagnostics() (transportError string, handshakeErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.transportError, p.handshakeErr
}

// diagConn records the first read error after the handshake (e.g. the server's
// "remote error: tls: bad certificate" alert under TLS 1.3, which grpc-go 1.33
// reports only as "connection closed").
type diagConn struct {
	net.Conn
	p *peer
}

func (c *diagConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && !strings.Contains(err.Error(), "use of closed network connection") {
		c.p.mu.Lock()
		if c.p.transportError == "" {
			c.p.transportError = err.Error()
		}
		c.p.mu.Unlock()
	}
	return n, err
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "1.0"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return "unknown"
}
