# Existing run scripts keep working: chpst, setuidgid, envdir, and log/run
# with multilog and svlogd.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/env"
echo from-envdir > "$T/env/GREETING"
chmod 755 "$T"
a=$(service chpst "#!/bin/sh
exec chpst -u nobody -e $T/env sh -c 'echo \$(id -un) \$GREETING > $T/chpst.out; exec sleep 1000'")
b=$(service setuidgid "#!/bin/sh
exec envdir $T/env setuidgid nobody sh -c 'echo \$(id -un) \$GREETING > $T/setuidgid.out; exec sleep 1000'")
chmod 777 "$T"
c=$(service multilog '#!/bin/sh
echo hello multilog
exec sleep 1000')
mkdir -p "$c/log"
printf '#!/bin/sh\nexec multilog t ./main\n' > "$c/log/run"; chmod +x "$c/log/run"
e=$(service svlogd '#!/bin/sh
echo hello svlogd
exec sleep 1000')
mkdir -p "$e/log/main"
printf '#!/bin/sh\nexec svlogd -tt ./main\n' > "$e/log/run"; chmod +x "$e/log/run"
for s in "$a" "$b" "$c" "$e"; do start "$s"; done
wait_lines "$T/chpst.out" 1
wait_lines "$T/setuidgid.out" 1
say "chpst: $(cat "$T/chpst.out")"
say "setuidgid: $(cat "$T/setuidgid.out")"
wait_until "multilog wrote" grep -q "hello multilog" "$c/log/main/current"
wait_until "svlogd wrote" grep -q "hello svlogd" "$e/log/main/current"
say "multilog: $(sed -E 's/^@[0-9a-f]{24} //' "$c/log/main/current")"
say "svlogd: $(sed -E 's/^[0-9_:.-]+ //' "$e/log/main/current")"
for s in "$a" "$b" "$c" "$e"; do run sv status "$s"; done
