# bash completion for l4lbctl(8): commands, options, and the running daemon's VRRP instances,
# services and backends (asked with the hidden `l4lbctl __complete WHAT`, which prints nothing
# when the daemon cannot be reached). Installed as
# /usr/share/bash-completion/completions/l4lbctl; tests/docs/test_completion.py drives it.

_l4lbctl_names() {
  # $1: instances, services or backends; the socket given on the command line is honoured.
  "${COMP_WORDS[0]}" ${_l4lbctl_socket:+--socket "$_l4lbctl_socket"} __complete "$1" 2>/dev/null
}

_l4lbctl() {
  local cur prev words cword
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  local commands="status reload drain undrain check-config version"
  local global_opts="-s --socket -h --help"

  # The command is the first word that is not an option or an option's value.
  local i command="" _l4lbctl_socket=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      -s|--socket) _l4lbctl_socket="${COMP_WORDS[i+1]}"; ((i++)) ;;
      --socket=*) _l4lbctl_socket="${COMP_WORDS[i]#--socket=}" ;;
      -*) ;;
      *) command="${COMP_WORDS[i]}"; break ;;
    esac
  done

  case "$prev" in
    --view)
      COMPREPLY=($(compgen -W "summary full" -- "$cur"))
      return ;;
    -s|--socket)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --service)
      COMPREPLY=($(compgen -W "$(_l4lbctl_names services)" -- "$cur")); return ;;
    --watch)
      # A period, or straight on to a name.
      COMPREPLY=($(compgen -W "1 2 5 10 $(_l4lbctl_names instances) $(_l4lbctl_names services)" -- "$cur"))
      return ;;
  esac

  if [[ -z "$command" ]]; then
    if [[ "$cur" == -* ]]; then
      COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    fi
    return
  fi

  case "$command" in
    status)
      if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "--json --view --watch -h --help" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "$(_l4lbctl_names instances) $(_l4lbctl_names services)" -- "$cur"))
      fi ;;
    drain|undrain)
      if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "--service -h --help" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "$(_l4lbctl_names backends)" -- "$cur"))
      fi ;;
    check-config)
      if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "-h --help" -- "$cur"))
      else
        COMPREPLY=($(compgen -f -- "$cur"))
      fi ;;
    reload|version)
      COMPREPLY=($(compgen -W "-h --help" -- "$cur")) ;;
  esac
}

complete -F _l4lbctl l4lbctl
