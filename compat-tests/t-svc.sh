# daemontools' svc letters and svstat against the same service.
. "$(dirname "$0")/lib.sh"

d=$(service rec "$RECORDER")
start "$d"
wait_lines "$d/ready" 1
n=0
for opt in -h -a -i -c -1 -2 -t; do
    run svc $opt "$d"
    n=$((n + 1))
    wait_lines "$d/got" $n
    say "got: $(sed -n "${n}p" "$d/got")"
done
wait_lines "$d/ready" 2
wait_status "$d" '^run:'
run svc -p "$d"
wait_status "$d" 'paused'
run svstat "$d"
run svc -c "$d"
n=$((n + 1)); wait_lines "$d/got" $n
run svc -d "$d"
wait_status "$d" '^down:'
run svstat "$d"
run svc -o "$d"
wait_status "$d" '^run:'
run svstat "$d"
run svc -u "$d"
run svc -k "$d"
wait_lines "$d/ready" 5
wait_status "$d" '^run:'
run svstat "$d"
run svc -dx "$d"
wait_until "supervisor gone" sh -c "! svstat '$d' | grep -q 'up\|down'"
run svstat "$d"
