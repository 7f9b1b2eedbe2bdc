#!/bin/sh
# A tiny service for the demo: one line every 2 seconds, a clean exit on TERM.
trap 'echo "ticker: got TERM, bye"; exit 0' TERM
n=0
while :; do
    n=$((n + 1))
    echo "ticker: tick $n (pid $$)"
    sleep 2 &
    wait $!
done
