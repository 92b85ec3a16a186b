#!/usr/bin/env bash
# Runs the whole WebSocket library measurement on this machine and writes
# results/ (machine.txt, run.log, table.md, results.json). Loopback only;
# every child process is stopped by wsbench itself (and exits by itself
# after -maxlife). Extra arguments go to `wsbench run` (e.g. -reps 1).
set -euo pipefail
cd "$(dirname "$0")"
ulimit -n 20000
mkdir -p results
go build -o results/wsbench ./cmd/wsbench
{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  grep 'model name' /proc/cpuinfo | head -1
  echo "memory: $(free -m | awk '/^Mem:/{print $2" MiB"}')"
  echo "kernel: $(uname -r)"
  go version
  echo "ulimit -n: $(ulimit -n)"
  echo "modules:"; go list -m github.com/lxzan/gws github.com/gorilla/websocket github.com/coder/websocket | sed 's/^/  /'
} | tee results/machine.txt
./results/wsbench run -json results/results.json "$@" 2> >(tee results/run.log >&2) | tee results/table.md
