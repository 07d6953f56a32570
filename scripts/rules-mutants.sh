#!/usr/bin/env bash
# Breaks the Prometheus rules one way at a time (a threshold moved by 5 %, a window, a `for:`, an aggregation) and
# checks that `promtool test rules` then fails: a test that passes whatever the rules say guards nothing.
# Several minutes (79 runs of the tests); run it after changing a rule or a test. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../deploy/prometheus"
command -v promtool >/dev/null 2>&1 || { echo "rules: promtool not found; install it with: apt-get install -y prometheus" >&2; exit 1; }

mutants=(
  'alerts.yml|s/ratio_rate1h > (14.4/ratio_rate1h > (13.7/'
  'alerts.yml|s/ratio_rate1h > (14.4/ratio_rate1h > (15.1/'
  'alerts.yml|s/ratio_rate5m > (14.4/ratio_rate5m > (13.7/'
  'alerts.yml|s/ratio_rate5m > (14.4/ratio_rate5m > (15.1/'
  'alerts.yml|s/ratio_rate6h > (6 /ratio_rate6h > (5.7 /'
  'alerts.yml|s/ratio_rate6h > (6 /ratio_rate6h > (6.3 /'
  'alerts.yml|s/ratio_rate30m > (6 /ratio_rate30m > (5.7 /'
  'alerts.yml|s/ratio_rate30m > (6 /ratio_rate30m > (6.3 /'
  'alerts.yml|s/ratio_rate1d > (3 /ratio_rate1d > (2.85 /'
  'alerts.yml|s/ratio_rate1d > (3 /ratio_rate1d > (3.15 /'
  'alerts.yml|s/ratio_rate2h > (3 /ratio_rate2h > (2.85 /'
  'alerts.yml|s/ratio_rate2h > (3 /ratio_rate2h > (3.15 /'
  'alerts.yml|s/ratio_rate3d > (1 /ratio_rate3d > (0.95 /'
  'alerts.yml|s/ratio_rate3d > (1 /ratio_rate3d > (1.05 /'
  'alerts.yml|s/ratio_rate6h > (1 /ratio_rate6h > (0.95 /'
  'alerts.yml|s/ratio_rate6h > (1 /ratio_rate6h > (1.05 /'
  'alerts.yml|s/ratio_rate5m > (14.4/ratio_rate30m > (14.4/'
  'alerts.yml|s/ratio_rate3d > (1 /ratio_rate1d > (1 /'
  'alerts.yml|s/1 - (/0.999 - (/'
  'alerts.yml|s/for: 1m/for: 2m/'
  'alerts.yml|s/for: 3m/for: 2m/'
  'alerts.yml|s/for: 3m/for: 4m/'
  'alerts.yml|s/\[10m\]) >= 5/[10m]) >= 4/'
  'alerts.yml|s/\[10m\]) >= 5/[10m]) >= 6/'
  'alerts.yml|s/\[10m\]) >= 5/[15m]) >= 5/'
  'alerts.yml|s/\[10m\]) >= 5/[5m]) >= 5/'
  'alerts.yml|s/absent(up{job="dashboard"}) or //'
  'alerts.yml|s/ or up{job="dashboard"} == 0//'
  'alerts.yml|s/up{job="dashboard"} == 0/up == 0/'
  'alerts.yml|s/dashboard_dependency_up == 0/dashboard_dependency_up < 2/'
  'alerts.yml|s/severity: page/severity: ticket/'
  'recording.yml|s/sum by (dependency) (rate(dashboard_dependency_up/sum (rate(dashboard_dependency_up/'
  'recording.yml|s/sum(rate(dashboard_observed_seconds_total\[1h\]))/avg(rate(dashboard_observed_seconds_total[1h]))/'
)
# Every window of every counter, in both files, stretched.
for window in 5m 30m 1h 2h 6h 1d 3d 30d; do
  for counter in dependency_observed_seconds_total dependency_up_seconds_total observed_seconds_total ready_seconds_total; do
    mutants+=("recording.yml|s/rate(dashboard_${counter}\[${window}\])/rate(dashboard_${counter}[9${window}])/")
    [ "$window" = 30d ] || [[ $counter == dependency_* ]] ||
      mutants+=("alerts.yml|s/rate(dashboard_${counter}\[${window}\])/rate(dashboard_${counter}[9${window}])/")
  done
done

survivors=0
for mutant in "${mutants[@]}"; do
  file=${mutant%%|*} expr=${mutant#*|}
  copy=$(mktemp -d)
  cp -r . "$copy"
  sed -i "$expr" "$copy/$file"
  if cmp -s "$file" "$copy/$file"; then
    echo "rules: mutant changes nothing (fix the list): $mutant" >&2
    survivors=$((survivors + 1))
  elif (cd "$copy/tests" && promtool test rules ./*.yml >/dev/null 2>&1); then
    echo "rules: SURVIVED (no test fails): $file: $expr" >&2
    survivors=$((survivors + 1))
  fi
  rm -rf "$copy"
done
echo "rules: ${#mutants[@]} mutants, $survivors survived"
[ "$survivors" -eq 0 ]
