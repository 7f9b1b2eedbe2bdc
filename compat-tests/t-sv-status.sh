# sv status and svstat for: up, with a log service, down (normally up),
# normally down, paused, want down (TERM ignored), finish.
. "$(dirname "$0")/lib.sh"

d=$(service web '#!/bin/sh
exec sleep 1000')
mkdir -p "$d/log"
printf '#!/bin/sh\nexec cat > /dev/null\n' > "$d/log/run"; chmod +x "$d/log/run"
start "$d"
wait_status "$d" '^run: .*; run: log:'
run sv status "$d"
run svstat "$d" "$d/log"
run sv -v down "$d"
wait_status "$d" '^down:'
run sv status "$d"
run svstat "$d"
run sv -v up "$d"
run sv pause "$d"
wait_status "$d" 'paused'
run sv status "$d"
run svstat "$d"
run sv cont "$d"
wait_status "$d" '^run: [^,]*;'
run sv status "$d"

n=$(service off '#!/bin/sh
exec sleep 1000')
touch "$n/down"
start "$n"
run sv status "$n"
run svstat "$n"
# Not `sv -v once`: whether it reports the state before or after the
# start is a race between sv's first look and the supervisor (both count).
run sv once "$n"
wait_status "$n" '^run:'
run sv status "$n"

s=$(service stubborn '#!/bin/sh
trap "" TERM
echo ready > ready
exec sleep 1000')
start "$s"
wait_lines "$s/ready" 1
run sv down "$s"
wait_status "$s" 'got TERM'
run sv status "$s"
run svstat "$s"
cat "$s/supervise/stat" | while read -r l; do say "stat: $l"; done

f=$(service finisher '#!/bin/sh
exit 3')
printf '#!/bin/sh\necho "$@" >> args\nwhile [ ! -f release ]; do sleep 0.02; done\nexit 0\n' > "$f/finish"
chmod +x "$f/finish"
start "$f"
wait_status "$f" '^finish:'
run sv status "$f"
run svstat "$f"
cat "$f/supervise/stat" | while read -r l; do say "stat: $l"; done
head -1 "$f/args" | while read -r l; do say "finish args: $l"; done
run sv down "$f"
touch "$f/release"
wait_status "$f" '^down:'
run sv status "$f"
