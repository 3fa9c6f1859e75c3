#!/usr/bin/env bash
# Installs the Debian 12 packages suanli needs, only those missing. Usage: scripts/deps.sh [build|test]
set -euo pipefail
need=(cmake ninja-build g++ pkg-config libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev libssl-dev
      libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libcpp-httplib-dev)
if [ "${1:-build}" = test ]; then
  # clang + its runtime: sanitizers and libFuzzer; cross g++ + qemu: the ARM kernel tests;
  # openssl: test certificates; iproute2 + ping: the network-namespace test.
  # jq, curl: the server tests; chromium + node/npm (playwright-core, the openai client): the
  # browser and client tests; liblzma-dev: the tokenizer tests' xz-compressed vocabularies.
  need+=(clang libclang-rt-14-dev g++-aarch64-linux-gnu qemu-user openssl iproute2 iputils-ping
         jq curl chromium liblzma-dev)
  # Node.js: Debian's, unless a node with npm is already there (e.g. a newer one from elsewhere,
  # which Debian's npm package would conflict with).
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then need+=(nodejs npm); fi
fi
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/deps.sh: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
