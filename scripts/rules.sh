#!/usr/bin/env bash
# Checks the Prometheus rules and runs their unit tests (deploy/prometheus): `pnpm test:rules`. Fails on any failure.
set -euo pipefail
cd "$(dirname "$0")/../deploy/prometheus"

if ! command -v promtool >/dev/null 2>&1; then
  echo "rules: promtool not found; install it with: apt-get install -y prometheus" >&2
  exit 1
fi

promtool check rules recording.yml alerts.yml
promtool test rules tests/*.yml
