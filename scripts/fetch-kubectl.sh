#!/usr/bin/env bash
# Extracts Debian's kubectl (package kubernetes-client) into test/tools/kubectl/
# without installing it system-wide: /usr/bin/kubectl on the development
# machines can be a Google Cloud SDK wrapper, and the Debian package cannot be
# installed over it (file conflict). Idempotent; needs only apt.
# Prints the path of the kubectl binary on success.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${KUBECTL_TOOLS_DIR:-$root/test/tools/kubectl}"
bin="$dest/usr/bin/kubectl"

if [[ -x "$bin" ]] && "$bin" version --client >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# apt-get download writes into the current directory; the _apt sandbox user
# may not be able to write there, so allow it (and tolerate the warning).
chmod 0777 "$tmp"
cd "$tmp"
if ! apt-get download kubernetes-client >"$tmp/apt.log" 2>&1; then
  # The package lists may be missing on a fresh machine.
  apt-get update >>"$tmp/apt.log" 2>&1 || true
  apt-get download kubernetes-client >>"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; exit 1; }
fi
deb="$(ls "$tmp"/kubernetes-client_*.deb | head -n1)"
rm -rf "$dest.partial"
mkdir -p "$dest.partial"
dpkg-deb -x "$deb" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
"$bin" version --client >/dev/null
echo "$bin"
