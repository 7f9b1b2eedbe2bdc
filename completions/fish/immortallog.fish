# fish completion for immortallog(8) (svlogd's and the Go immortal's options;
# multilog's actions are plain words)

complete -c immortallog -o t -d 'TAI64N stamps'
complete -c immortallog -o tt -d 'YYYY-MM-DD_HH:MM:SS stamps'
complete -c immortallog -o ttt -d 'YYYY-MM-DDTHH:MM:SS stamps'
complete -c immortallog -o v -d 'Verbose (alone: the version)'
complete -c immortallog -o r -x -d 'Replace non-printable bytes with c'
complete -c immortallog -o R -x -d 'Replace these bytes too'
complete -c immortallog -o l -x -d 'Bytes of a line that patterns see'
complete -c immortallog -o b -x -d 'Read buffer size'
complete -c immortallog -o s -x -d 'Rotation size (bytes; MiB with -f)'
complete -c immortallog -o n -x -d 'Rotated files kept'
complete -c immortallog -o a -x -d 'Rotate when older than seconds'
complete -c immortallog -o f -r -F -d 'Go immortal dialect: log to FILE'
complete -c immortallog -o T -d 'RFC 3339 stamps (with -f)'
complete -c immortallog -o h -l help -d 'Print the usage'
complete -c immortallog -f -a '(__fish_complete_directories)'
