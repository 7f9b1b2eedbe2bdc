# sv -w/-v: waiting for the wanted state, check scripts, timeouts.
. "$(dirname "$0")/lib.sh"

d=$(service web '#!/bin/sh
exec sleep 1000')
start "$d"
wait_status "$d" '^run:'
run sv -w 5 down "$d"
run sv -w 5 up "$d"
run sv -w 5 once "$d"
# sv compares start times to the second: let a second pass first.
wait_status "$d" '\) [1-9][0-9]*s'
run sv -w 5 restart "$d"
run sv -w 5 status "$d"
# check: `sv check` and `sv -w up` wait until ./check exits 0.
printf '#!/bin/sh\ntest -f ready\n' > "$d/check"; chmod +x "$d/check"
run sv -w 1 check "$d"
touch "$d/ready"
run sv -w 5 check "$d"
wait_status "$d" '\) [1-9][0-9]*s'
run sv -w 5 -v restart "$d"
run sv -w 5 force-stop "$d"
run sv -w 5 up "$d"
wait_status "$d" '\) [1-9][0-9]*s'
run sv -w 5 force-restart "$d"
rm "$d/check"
