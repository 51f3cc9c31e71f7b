#!/usr/bin/env bash
# Runs the Go sumdb tlog/note peer benchmark (needs Debian golang-go and
# golang-golang-x-mod-dev). Prints "<operation> <ns/op>" lines.
set -euo pipefail
cd "$(dirname "$0")/../benches/go-sumdb"
GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= go run main.go
