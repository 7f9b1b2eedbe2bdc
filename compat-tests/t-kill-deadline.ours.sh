# Beyond runsv: a service that ignores TERM is KILLed at the deadline
# (s6's timeout-kill file, milliseconds), with its whole process group;
# s6's down-signal file picks the stop signal. runsv would wait forever.
. "$(dirname "$0")/lib.sh"

d=$(service stubborn '#!/bin/sh
trap "" TERM
sleep 1000 &
echo ready > ready
exec sleep 1000')
echo 300 > "$d/timeout-kill"
start "$d"
wait_lines "$d/ready" 1
# The service can write ./ready before its supervisor has recorded the pid.
wait_lines "$d/supervise/pid" 1
pgid=$(cat "$d/supervise/pid")
run sv down "$d"
wait_status "$d" '^down:'
run sv status "$d"
say "left in its group: $(pgrep -g "$pgid" | wc -l)"

q=$(service quitter '#!/bin/sh
trap "echo QUIT > got; exit 0" QUIT
echo ready > ready
while :; do sleep 1 & wait $!; done')
echo QUIT > "$q/down-signal"
start "$q"
wait_lines "$q/ready" 1
run sv -w 5 down "$q"
say "got: $(cat "$q/got")"
