#!/bin/sh
# Generates the Python stubs of pushgate.v1 into gen/ with the protoc that grpcio-tools (PyPI)
# carries.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/gen"
python3 -m grpc_tools.protoc -I "$here/../../proto" \
    --python_out="$here/gen" --grpc_python_out="$here/gen" pushgate/v1/push.proto
