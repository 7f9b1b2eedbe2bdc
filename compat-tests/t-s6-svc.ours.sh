# s6-svc drives us too, including the letters runsv does not know:
# -b ABRT, -y WINCH, -r restart (stop signal, stay up), -O once at most,
# -D/-U down/up that also create/remove ./down.
. "$(dirname "$0")/lib.sh"

d=$(service rec "$RECORDER
")
sed -i 's/WINCH; do/WINCH ABRT; do/' "$d/run"
start "$d"
wait_lines "$d/ready" 1
n=0
for opt in -a -b -q -h -i -1 -2 -y -c; do
    run s6-svc $opt "$d"
    n=$((n + 1))
    wait_lines "$d/got" $n
    say "got: $(sed -n "${n}p" "$d/got")"
done
run s6-svc -r "$d"
wait_lines "$d/ready" 2
wait_status "$d" '^run:'
# -r's stop signal, TERM, recorded after the earlier ones. (Not the last
# line, nor even the first after them: the CONT that follows TERM can land
# while the TERM trap runs, or be taken first by sh, and sh records it
# too — seen 1 run in a few dozen under load.)
say "after -r: $(sed -n "$((n + 1)),\$p" "$d/got" | grep -m1 -x TERM), $(wc -l < "$d/ready") starts"
run s6-svc -O "$d"
run s6-svc -k "$d"
wait_status "$d" '^down:'
run sv status "$d"
run s6-svc -U "$d"
wait_status "$d" '^run:'
say "down file after -U: $([ -e "$d/down" ] && echo yes || echo no)"
run s6-svc -D "$d"
wait_status "$d" '^down:'
say "down file after -D: $([ -e "$d/down" ] && echo yes || echo no)"
run sv status "$d"
run s6-svc -u "$d"
wait_status "$d" '^run:'
run s6-svc -d "$d"
wait_status "$d" '^down:'
run s6-svc -x "$d"
wait_until "supervisor gone" sh -c "! sv status '$d'"
run sv status "$d"
