#!/usr/bin/env bash
# Builds the Go aTLS test peer (test/go/src/atlspeer) into test/go/bin/atls-peer.
#
# Offline, GOPATH mode, against the Go packages Debian ships in /usr/share/gocode:
#   golang-go                   go toolchain (bookworm: 1.19)
#   golang-google-grpc-dev      google.golang.org/grpc (bookworm: 1.33.3)
#   golang-google-protobuf-dev  google.golang.org/protobuf (bookworm: 1.28.1), incl. the
#                               source of cmd/protoc-gen-go, which is built here so that
#                               the generator matches the runtime exactly
#   golang-goprotobuf-dev       github.com/golang/protobuf (needed by grpc-go 1.33)
#   protobuf-compiler           protoc
#
# The generated protobuf code is written into the gitignored test/go/gopath tree on
# every run (it is never committed). Safe to run repeatedly and concurrently: every
# output file is written to a temporary name and renamed into place.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOCODE="${GOCODE:-/usr/share/gocode}"
GEN="$REPO/test/go/gopath"
OUT_DIR="$REPO/test/go/bin"
OUT="$OUT_DIR/atls-peer"
PKGS="golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-goprotobuf-dev protobuf-compiler"

die() {
  echo "build-go-peer: error: $*" >&2
  echo "build-go-peer: install the Debian packages with: apt-get install -y $PKGS" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "'go' not found in PATH"
command -v protoc >/dev/null 2>&1 || die "'protoc' not found in PATH"
[ -f "$GOCODE/src/google.golang.org/protobuf/cmd/protoc-gen-go/main.go" ] ||
  die "protoc-gen-go source not found at $GOCODE/src/google.golang.org/protobuf/cmd/protoc-gen-go"
[ -d "$GOCODE/src/google.golang.org/grpc" ] || die "grpc-go not found at $GOCODE/src/google.golang.org/grpc"
[ -d "$GOCODE/src/github.com/golang/protobuf/proto" ] ||
  die "github.com/golang/protobuf not found at $GOCODE/src/github.com/golang/protobuf"

# Hermetic GOPATH-mode environment: no modules, no network, no user configuration.
export GO111MODULE=off
export GOFLAGS=
export GOENV=off
export GOPROXY=off
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOPATH="$GEN:$REPO/test/go:$GOCODE"
export GOCACHE="${GO_PEER_GOCACHE:-$GEN/cache}"
unset GOROOT_FINAL GOBIN

mkdir -p "$GEN/bin" "$GEN/src" "$OUT_DIR" "$GOCACHE"
# Serialise concurrent builds (e.g. several test processes) when flock is available.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$GEN/.build.lock"
  flock 9
fi
TMP="$(mktemp -d "$GEN/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# 1. protoc-gen-go from the Debian source (APIv2, matches the installed runtime).
#    (/usr/bin/protoc-gen-go in bookworm is the old APIv1 generator of protoc-gen-go-1-3.)
go build -o "$TMP/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
mv -f "$TMP/protoc-gen-go" "$GEN/bin/protoc-gen-go"

# 2. Go code for the join API protos, import paths resolvable in $GEN/src.
mkdir -p "$TMP/pb"
protoc -I "$REPO/proto" \
  --plugin=protoc-gen-go="$GEN/bin/protoc-gen-go" \
  --go_out="$TMP/pb" \
  --go_opt=paths=import \
  --go_opt=Mjoinservice/joinproto/join.proto=joinpb/join \
  --go_opt=Minternal/versions/components/components.proto=joinpb/components \
  joinservice/joinproto/join.proto internal/versions/components/components.proto
(cd "$TMP/pb" && find . -type f -name '*.go') | while read -r f; do
  dest="$GEN/src/$f"
  mkdir -p "$(dirname "$dest")"
  if ! cmp -s "$TMP/pb/$f" "$dest"; then
    cp "$TMP/pb/$f" "$dest.tmp.$$"
    mv -f "$dest.tmp.$$" "$dest"
  fi
done

# 3. The peer itself (package atlspeer in the GOPATH entry $REPO/test/go).
go build -trimpath -o "$TMP/atls-peer" atlspeer
mv -f "$TMP/atls-peer" "$OUT"
echo "build-go-peer: built $OUT ($(go version | awk '{print $3}'), grpc-go $(sed -n 's/^const Version = "\(.*\)"/\1/p' "$GOCODE/src/google.golang.org/grpc/version.go"))" >&2
