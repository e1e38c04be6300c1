#!/bin/sh
# Build the tableflip test daemon: build.sh OUTPUT_PATH
# Uses Debian's golang-go and golang-github-cloudflare-tableflip-dev in GOPATH
# mode, so no go.mod and no network are needed.
set -eu

if [ "$#" -ne 1 ]; then
    echo "usage: $0 OUTPUT_PATH" >&2
    exit 2
fi

# Resolve the output against the caller's directory before we cd away.
case $1 in
/*) out=$1 ;;
*) out=$(pwd)/$1 ;;
esac

cd "$(dirname "$0")"
# GOFLAGS is cleared so that a -mod=... from the caller's environment can't
# break a GOPATH-mode build.
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=/tmp/gocache GOFLAGS= \
    go build -o "$out" .
