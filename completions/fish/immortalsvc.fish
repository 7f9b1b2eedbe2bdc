# fish completion for immortalsvc(8)

complete -c immortalsvc -f -a '(__fish_complete_directories)' -d 'Services directory'
complete -c immortalsvc -o v -l version -d 'Print the version'
complete -c immortalsvc -o h -o help -l help -d 'Print the usage'
complete -c immortalsvc -o check -x -a '(__fish_complete_directories)' -d 'Check every service of the directory, list every problem'
complete -c immortalsvc -o o -x -a 'prefix plain json' -d "How the services' lines reach stdout"
