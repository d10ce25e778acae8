#!/usr/bin/env bash
# Memory on the embedded default (SQLite): the server's RSS idle, after three rounds of 12
# parallel raw year reads (1,000,000 power + TEROS rows imported first), and 10–90 s later.
# Usage: bench/memory-sqlite.sh [path/to/loam]   (KEEP=1 leaves the server running)
set -u
BIN=${1:-target/release/loam}
W=$(mktemp -d)
D=$W/data; mkdir -p $D
PORT=18555
export LOAM_DATA_DIR=$D LOAM_LOG=warn LOAM_ENTS_COMPAT=true LOAM_LISTEN=127.0.0.1:$PORT
W=$W python3 - <<'PY'
import datetime, os
lines=["timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)"]
t0=1672531200
for n in range(500000):
    t=datetime.datetime.utcfromtimestamp(t0+n*60)
    lines.append(t.strftime(" %d %b %Y %H:%M:%S GMT")+f",{100+n%500*0.37},{20+n%313*0.11},1.0,{200+n%97},{10.5},{18+n%150*0.1}")
open(os.environ["W"]+"/year.csv","w").write("\n".join(lines))
PY
$BIN >$W/server.log 2>&1 & PID=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done
curl -s -X POST http://127.0.0.1:$PORT/api/auth/register -H 'content-type: application/json' -d '{"email":"m@e.test","password":"memory-pass-123"}' >/dev/null
TOK=$(curl -s -X POST http://127.0.0.1:$PORT/api/auth/login -H 'content-type: application/json' -d '{"email":"m@e.test","password":"memory-pass-123"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
CELL=$(curl -s -X POST http://127.0.0.1:$PORT/api/cell/ -H "authorization: Bearer $TOK" -H 'content-type: application/json' -d '{"name":"m","location":"x","latitude":0,"longitude":0,"archive":false,"userEmail":"m@e.test"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
LOG=$(curl -s -X POST http://127.0.0.1:$PORT/api/logger/ -H "authorization: Bearer $TOK" -H 'content-type: application/json' -d '{"name":"l","userEmail":"m@e.test"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["logger_id"])')
$BIN import $W/year.csv --cell $CELL --logger $LOG >/dev/null 2>&1
rss() { grep VmRSS /proc/$PID/status | awk '{printf "%.1f", $2/1024}'; }
sleep 3; echo "idle: $(rss) MiB"
Q="startTime=Sun,%2001%20Jan%202023%2000:00:00%20GMT&endTime=Sun,%2031%20Dec%202023%2023:59:59%20GMT&resample=none"
for round in 1 2 3; do
  PIDS=""
  for k in 1 2 3 4 5 6; do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/power/$CELL?$Q" & PIDS="$PIDS $!"; curl -s -o /dev/null "http://127.0.0.1:$PORT/api/teros/$CELL?$Q" & PIDS="$PIDS $!"; done; wait $PIDS
done
echo "after bursts: $(rss) MiB"
for s in 10 20 30 30; do sleep $s; echo "+$s s: $(rss) MiB"; done
if [ -n "${KEEP:-}" ]; then echo "pid $PID"; else kill $PID; wait $PID 2>/dev/null; fi
[ -n "${KEEP:-}" ] || rm -rf "$W"
