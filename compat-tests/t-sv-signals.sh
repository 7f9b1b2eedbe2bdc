# sv's signal commands reach the service (recorded by its traps).
. "$(dirname "$0")/lib.sh"

d=$(service rec "$RECORDER")
start "$d"
wait_lines "$d/ready" 1
n=0
for cmd in hup alarm interrupt quit 1 2 cont term; do
    run sv "$cmd" "$d"
    n=$((n + 1))
    wait_lines "$d/got" $n
    say "got: $(sed -n "${n}p" "$d/got")"
done
wait_lines "$d/ready" 2
wait_status "$d" '^run:'
run sv status "$d"
for cmd in pause cont; do
    run sv -v "$cmd" "$d"
done
run sv kill "$d"
wait_status "$d" '^run: .*\(pid [0-9]+\) [0-9]s'
wait_lines "$d/ready" 3
say "restarted after kill: $(wc -l < "$d/ready") starts"
