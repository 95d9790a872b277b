#!/usr/bin/env bash
# Paired runs of two builds: `bench/pair.sh <other checkout> <repeats> <in flight> <ms> <new|replay|takeover>
# [outcome bytes]`.
# Alternates the baseline, idemkit from <other checkout> ("old") and idemkit from this one ("new"), Node
# pinned to CPU 0 (pin Redis to CPU 1 yourself: `taskset -a -p -c 1 <redis pid>`), database 9 flushed before
# each run; prints the median req/s and CPU µs per request of each. The store is BENCH_STORE (redis by
# default; sqlite, postgres, noop: see src/one-contender.ts).
set -euo pipefail
other=$1 reps=$2 inflight=$3 ms=$4 scenario=$5 bytes=${6:-0}
here=$(cd "$(dirname "$0")" && pwd)
for _ in $(seq 1 "$reps"); do
  for variant in "base:$here:baseline" "old:$other/bench:idemkit" "new:$here:idemkit"; do
    IFS=: read -r label dir which <<<"$variant"
    redis-cli -n 9 flushdb >/dev/null
    line=$(cd "$dir" && taskset -c 0 node --import tsx src/one-contender.ts "$which" "$inflight" "$ms" "$scenario" "$bytes")
    echo "$label $(awk '{print $4, $6}' <<<"$line")"
  done
done | awk -v s="$scenario" -v c="$inflight" '
  { t[$1] = t[$1] " " $2; u[$1] = u[$1] " " $3 }
  END { for (k in t) { n = split(t[k], a, " "); asort(a); m = split(u[k], b, " "); asort(b)
    printf "%-4s %s in flight %s: req/s median %d [%s ], cpu µs/req median %.1f\n", k, s, c, a[int((n+1)/2)], t[k], b[int((m+1)/2)] } }' | sort
