# Shared helpers for the compatibility scripts. Each script prints a
# transcript; `compat-tests/run` runs it against the real runsv (IMPL=runsv)
# and against ours (IMPL=immortal) and compares the two, pids, seconds and
# temporary paths masked.
#
# IMPL=immortal|runsv   supervisor under test (default: immortal)
# IMMORTAL=PATH         our binary (default: target/debug/immortal)

set -u
IMPL=${IMPL:-immortal}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMMORTAL=${IMMORTAL:-$ROOT/target/debug/immortal}
T=$(mktemp -d /tmp/compat.XXXXXX)
SUPERVISORS=()

cleanup() {
    local p
    for p in "${SUPERVISORS[@]}"; do
        # The supervisor's services: every process whose parent it is.
        for c in $(pgrep -P "$p" 2>/dev/null); do kill -9 -- "-$c" "$c" 2>/dev/null; done
        kill -9 "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT

# say TEXT: one transcript line, masked so both supervisors compare equal.
say() {
    printf '%s\n' "$*" | sed -E \
        -e "s#$T#\$T#g" \
        -e 's/\(pid [0-9]+\)/(pid N)/g' \
        -e 's/pid [0-9]+/pid N/g' \
        -e 's/ [0-9]+s([;,]|$)/ Ns\1/g' \
        -e 's/ [0-9]+ seconds/ N seconds/g'
}

# run CMD…: run a peer tool, print its output and exit status.
run() {
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    [ -n "$out" ] && say "$out"
    say "[$* -> $rc]"
}

# service NAME RUNSCRIPT: make a service directory, print its path.
service() {
    local d=$T/$1
    mkdir -p "$d"
    printf '%s\n' "$2" > "$d/run"
    chmod +x "$d/run"
    echo "$d"
}

# start DIR: supervise DIR with the implementation under test, and wait
# until it is up (supervise/ok has a reader).
start() {
    local d=$1
    # Background jobs of a script ignore INT and QUIT; give services the
    # default dispositions, as an init system would.
    case $IMPL in
        runsv) env --default-signal=INT,QUIT runsv "$d" 2>>"$T/supervisor.log" & ;;
        immortal) env --default-signal=INT,QUIT "$IMMORTAL" "$d" 2>>"$T/supervisor.log" & ;;
        *) echo "unknown IMPL=$IMPL" >&2; exit 2 ;;
    esac
    SUPERVISORS+=($!)
    disown $!
    wait_until "supervisor of $d" sv status "$d"
}

# wait_until WHAT CMD…: retry CMD every 20 ms until it succeeds (10 s max).
wait_until() {
    local what=$1; shift
    local i
    for i in $(seq 500); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    say "TIMEOUT waiting for $what"
    return 1
}

# wait_status DIR REGEX: until `sv status DIR` matches REGEX.
wait_status() {
    wait_until "sv status $1 ~ $2" sh -c "sv status '$1' | grep -Eq '$2'"
}

# wait_lines FILE N: until FILE has at least N lines.
wait_lines() {
    wait_until "$2 lines in $1" sh -c "[ \$(cat '$1' 2>/dev/null | wc -l) -ge $2 ]"
}

# A run script that records the signals it receives in ./got; TERM makes
# it exit (after recording), as most services do.
RECORDER='#!/bin/sh
for s in HUP INT QUIT USR1 USR2 ALRM CONT WINCH; do
  trap "echo $s >> got" $s
done
trap "echo TERM >> got; exit 0" TERM
echo ready >> ready
while :; do sleep 1 & wait $!; done'
