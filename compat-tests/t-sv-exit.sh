# sv exit: the service goes down, the logger reads everything, the
# supervisor exits; then sv says it is not running.
. "$(dirname "$0")/lib.sh"

d=$(service web '#!/bin/sh
echo line-one
echo line-two
exec sleep 1000')
mkdir -p "$d/log"
printf '#!/bin/sh\nexec cat > logged\n' > "$d/log/run"; chmod +x "$d/log/run"
start "$d"
wait_lines "$d/log/logged" 2
run sv exit "$d"
wait_until "supervisor gone" sh -c "! sv status '$d'"
run sv status "$d"
run svstat "$d"
while read -r l; do say "logged: $l"; done < "$d/log/logged"
cat "$d/supervise/stat" | while read -r l; do say "stat: $l"; done
run sv up "$d"
