# runit's control/<letter>: a script run before the command; exiting 0
# replaces the signal. runsv does the same; ours runs it without blocking.
. "$(dirname "$0")/lib.sh"

d=$(service rec "$RECORDER")
mkdir -p "$d/control"
printf '#!/bin/sh\necho "control/h ran" >> overrides\nexit 0\n' > "$d/control/h"
printf '#!/bin/sh\necho "control/a ran" >> overrides\nexit 1\n' > "$d/control/a"
chmod +x "$d/control/h" "$d/control/a"
start "$d"
wait_lines "$d/ready" 1
run sv hup "$d"
wait_lines "$d/overrides" 1
run sv alarm "$d"
wait_lines "$d/got" 1
run sv 1 "$d"
wait_lines "$d/got" 2
while read -r l; do say "$l"; done < "$d/overrides"
while read -r l; do say "got: $l"; done < "$d/got"
