#!/usr/bin/env bash
# Load benchmark of `fhir-access serve` on loopback with `wrk` (apt-get install wrk): read and
# search throughput and latency percentiles against the seeded Synthea data.
#
#   examples/fhir-access/bench/load.sh [authorization-mode] [seconds] [connections]
#
# The mode defaults to `allow-all` (no access control: the baseline the full pipeline is
# compared with once the security slice lands). The server runs from a release build in a
# temporary data directory and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../../.."

mode="${1:-allow-all}"
seconds="${2:-10}"
connections="${3:-16}"
port=18181
base="http://127.0.0.1:$port/fhir"
patient=717282e4-5d08-4cbd-afad-596051966367
observation=$(python3 -c "import json; b=json.load(open('examples/fhir-access/seed/Lucien_Hahn_21e66b72.json')); print(next(e['resource']['id'] for e in b['entry'] if e['resource']['resourceType']=='Observation'))")

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -p fhir-access --quiet
data=$(mktemp -d)
./target/release/fhir-access serve --listen "127.0.0.1:$port" --data-dir "$data" \
    --authorization "$mode" --log warn > "$data/stdout" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT
until grep -q listening "$data/stdout" 2>/dev/null; do sleep 0.2; done

run() {
    printf '\n== %s\n' "$1"
    curl -s -o /dev/null -w 'status %{http_code}, %{size_download} bytes\n' "$2"
    wrk --latency -t 2 -c "$connections" -d "${seconds}s" "$2" | grep -E 'Requests/sec|  50%|  99%|Non-2xx'
}

run "read Patient"                 "$base/Patient/$patient"
run "read Observation"             "$base/Observation/$observation"
run "search Observation by patient and code, 20 per page" \
    "$base/Observation?patient=$patient&code=http://loinc.org|8302-2&_sort=-date"
run "compartment search with _include" \
    "$base/Patient/$patient/Encounter?_count=10&_include=Encounter:service-provider"
