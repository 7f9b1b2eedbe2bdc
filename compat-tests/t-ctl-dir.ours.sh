# A `-ctl DIR` (or $IMMORTAL_SDIR) supervise directory has the runit files
# and `supervise -> .`, so sv, svc and svstat work on DIR itself.
. "$(dirname "$0")/lib.sh"

d=$T/web
"$IMMORTAL" -n -ctl "$d" sleep 1000 2>>"$T/supervisor.log" &
SUPERVISORS+=($!)
disown $!
wait_until "supervisor of $d" sv status "$d"
wait_status "$d" '^run:'
run sv status "$d"
run svstat "$d"
say "supervise -> $(readlink "$d/supervise")"
say "modes: control $(stat -c %a "$d/control") ok $(stat -c %a "$d/ok") socket $(stat -c %a "$d/immortal.sock")"
run sv -w 5 down "$d"
run svc -u "$d"
wait_status "$d" '^run:'
run svstat "$d"
run sv -w 5 exit "$d"
wait_until "supervisor gone" sh -c "! sv status '$d'"
run sv status "$d"

# Down but wanted up (a start is pending: -w 30): sv says "want up".
w=$T/waiting
"$IMMORTAL" -n -ctl "$w" -w 30 sleep 1000 2>>"$T/supervisor.log" &
SUPERVISORS+=($!)
disown $!
wait_until "supervisor of $w" sv status "$w"
run sv status "$w"
run svstat "$w"
cat "$w/stat" | while read -r l; do say "stat: $l"; done
