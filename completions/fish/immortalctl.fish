# fish completion for immortalctl(8): verbs, options, signal flags, and the
# names of the services that `immortalctl --json` lists.

function __immortalctl_services
    set -l prog (commandline -opc)[1]
    command $prog --json 2>/dev/null | string replace -rf '^ *"name": "(.*)",?$' '$1'
end

# True while no verb and no signal flag has been given.
function __immortalctl_needs_verb
    set -l words (commandline -opc)
    set -e words[1]
    for w in $words
        switch $w
            case status start up stop down once restart halt exit history log events wait
                return 1
            case -1 -2 -a -c -h -i -in -k -ou -q -s -t
                return 1
        end
    end
    return 0
end

complete -c immortalctl -f
complete -c immortalctl -n __immortalctl_needs_verb -a status -d 'Print the status table'
complete -c immortalctl -n __immortalctl_needs_verb -a 'start up' -d 'Start the service'
complete -c immortalctl -n __immortalctl_needs_verb -a 'stop down' -d 'Stop it, no restart'
complete -c immortalctl -n __immortalctl_needs_verb -a once -d 'Start it if not running; no restart'
complete -c immortalctl -n __immortalctl_needs_verb -a restart -d 'Stop, re-read the configuration, start'
complete -c immortalctl -n __immortalctl_needs_verb -a halt -d 'Stop it and make its supervisor exit'
complete -c immortalctl -n __immortalctl_needs_verb -a exit -d 'Make the supervisor exit, leaving the service'
complete -c immortalctl -n __immortalctl_needs_verb -a history -d 'Its last 32 exits, newest first'
complete -c immortalctl -n __immortalctl_needs_verb -a log -d 'The last lines of its log: file; -f: follow'
complete -c immortalctl -n __immortalctl_needs_verb -a events -d 'Follow its events as they happen'
complete -c immortalctl -n __immortalctl_needs_verb -a wait -d 'Wait until it is up, ready or down'
complete -c immortalctl -n '__fish_seen_subcommand_from wait' -a 'up ready down' -d 'State to wait for'
complete -c immortalctl -n '__fish_seen_subcommand_from wait' -o t -x -d 'Give up after SECONDS (exit 1)'
complete -c immortalctl -a '(__immortalctl_services)' -d 'Service'
complete -c immortalctl -a "'*'" -d 'Every service'

complete -c immortalctl -o A -d 'No colours'
complete -c immortalctl -l json -d 'Print the status as JSON'
complete -c immortalctl -o v -l version -d 'Print the version'
complete -c immortalctl -o help -d 'Print the usage'
complete -c immortalctl -n '__fish_seen_subcommand_from log' -s f -l follow -d 'Follow the log, across rotations'
complete -c immortalctl -n '__fish_seen_subcommand_from log' -s n -x -d 'Lines to print first (10)'
complete -c immortalctl -o 1 -d 'Send SIGUSR1'
complete -c immortalctl -o 2 -d 'Send SIGUSR2'
complete -c immortalctl -o a -d 'Send SIGALRM'
complete -c immortalctl -o c -d 'Send SIGCONT'
complete -c immortalctl -o h -d 'Send SIGHUP (alone: usage)'
complete -c immortalctl -o i -d 'Send SIGINT'
complete -c immortalctl -o in -d 'Send SIGTTIN'
complete -c immortalctl -o k -d 'Send SIGKILL'
complete -c immortalctl -o ou -d 'Send SIGTTOU'
complete -c immortalctl -o q -d 'Send SIGQUIT'
complete -c immortalctl -o s -d 'Send SIGSTOP'
complete -c immortalctl -o t -d 'Send SIGTERM'
complete -c immortalctl -o w -d 'Send SIGWINCH; -w SECONDS before a verb: wait'
