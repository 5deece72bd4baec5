#!/bin/sh
# Generates the Go stubs of pushgate.v1 into gen/: buf (npm's @bufbuild/buf, pinned in
# tools/buf) with the Go plugins from the Go module proxy.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
GOBIN="$here/.bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN="$here/.bin" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
[ -x "$root/tools/buf/node_modules/.bin/buf" ] ||
    (cd "$root/tools/buf" && npm ci --no-audit --no-fund --loglevel=error)
cd "$root"
PATH="$here/.bin:$PATH" tools/buf/node_modules/.bin/buf generate
