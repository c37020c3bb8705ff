#!/usr/bin/env bash
# Load benchmark of `fhir-access serve` on loopback with `wrk` (apt-get install wrk): read and
# search throughput and latency percentiles against the seeded Synthea data.
#
#   examples/fhir-access/bench/load.sh [authorization-mode] [seconds] [connections] [audit-wait]
#
# The mode defaults to `policy` (the full pipeline: token validation, policy, narrowing,
# per-resource checks, one audit record per request, with a token minted for the demo
# doctor `dr-grey`); `allow-all` is the baseline without access control or audit. The audit
# wait defaults to the server's (`written`); `durable` answers only after `fdatasync`. The server
# runs from a release build in a temporary data directory and is stopped at the end; in
# `policy` mode the script checks that the audit store holds one record per request made.
set -euo pipefail
cd "$(dirname "$0")/../../.."

mode="${1:-policy}"
seconds="${2:-10}"
connections="${3:-16}"
audit_wait="${4:-written}"
port=18181
base="http://127.0.0.1:$port/fhir"
patient=717282e4-5d08-4cbd-afad-596051966367
observation=$(python3 -c "import json; b=json.load(open('examples/fhir-access/seed/Lucien_Hahn_21e66b72.json')); print(next(e['resource']['id'] for e in b['entry'] if e['resource']['resourceType']=='Observation'))")

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -p fhir-access --quiet
data=$(mktemp -d)
./target/release/fhir-access serve --listen "127.0.0.1:$port" --data-dir "$data" \
    --authorization "$mode" --audit-wait "$audit_wait" --log warn > "$data/stdout" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT
until grep -q listening "$data/stdout" 2>/dev/null; do sleep 0.2; done

auth=()
if [ "$mode" = policy ]; then
    token=$(./target/release/fhir-access token mint --data-dir "$data" --user dr-grey --aud "$base")
    auth=(-H "Authorization: Bearer $token")
fi
requests=0

run() {
    printf '\n== %s\n' "$1"
    curl -s -o /dev/null "${auth[@]}" -w 'status %{http_code}, %{size_download} bytes\n' "$2"
    out=$(wrk --latency -t 2 -c "$connections" -d "${seconds}s" "${auth[@]}" "$2")
    echo "$out" | grep -E 'requests in|Requests/sec|  50%|  99%|Non-2xx'
    made=$(echo "$out" | awk '/requests in/ {print $1}')
    requests=$((requests + 1 + made))
}

run "read Patient"                 "$base/Patient/$patient"
run "read Observation"             "$base/Observation/$observation"
run "search Observation by patient and code, 20 per page" \
    "$base/Observation?patient=$patient&code=http://loinc.org|8302-2&_sort=-date"
run "compartment search with _include" \
    "$base/Patient/$patient/Encounter?_count=10&_include=Encounter:service-provider"

if [ "$mode" = policy ]; then
    kill "$server"; wait "$server" 2>/dev/null || true
    records=$(cat "$data"/audit/*.jsonl | wc -l)
    printf '\n== audit: %s records for %s requests\n' "$records" "$requests"
    # wrk stops with requests in flight: the server finishes (and audits) them, wrk does not
    # count them, so up to one per connection and run may be extra.
    extra=$((records - requests))
    [ "$extra" -ge 0 ] && [ "$extra" -le $((4 * connections)) ] || { echo "audit record count differs" >&2; exit 1; }
fi
