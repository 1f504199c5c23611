# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# Bash completion for irqd(8): subcommands, each subcommand's flags, the
# values of the flags that take names (planners, reactors, layouts,
# formats, patterns, kernel lines, log levels), files where a flag takes a
# file, PCI addresses for bind/unbind, tune profiles (/etc/irqd/tune.d) for
# irqd tune --profile, and the device names of a running
# `irqd run` for `irqd ctl` (asked with `irqd ctl --json status`; nothing
# when no daemon answers). Installed as
# /usr/share/bash-completion/completions/irqd; needs nothing from
# bash-completion itself. packaging/tests/completion_test.sh checks the
# flag lists below against every subcommand's --help.

_irqd_subcommands="plan bench serve ctl run devices bind unbind config irqs tune top help"

# The long flags of each subcommand, as its --help prints them.
_irqd_flags() {
    case $1 in
    plan) echo "--topology --vectors --pre-vectors --post-vectors --sets --offline-cpus --planner --kernel --format" ;;
    bench) echo "--reactors --layouts --vectors --pattern --choice --duration --warmup --repeat --cpus --fire-cpu" \
        "--topology --handoff --when-full --queue-capacity --busy-poll-us --worker-cpus --floor --floor-methods" \
        "--json --plot" ;;
    serve) echo "--device --driver --vectors --pre-vectors --post-vectors --planner --reactor --handoff --when-full" \
        "--queue-capacity --busy-poll-us --pattern --choice --fire-cpu --cpus --topology --duration" \
        "--unplug-after --report" ;;
    ctl) echo "--socket --json" ;;
    run) echo "--config --log-level" ;;
    devices) echo "--json" ;;
    bind | unbind) echo "--force" ;;
    irqs) echo "--device --json" ;;
    tune) echo "--device --planner --cpus --kernel --apply --save --restore --xps --json --save-profile --profile" \
        "--if-present --ban-from-irqbalance --udev-wants" ;;
    top) echo "--socket --source --sort --interval --batch --iterations --cpu" ;;
    esac
    echo "--help"
}

# Flags that take no value (every other flag takes the next word).
_irqd_switch() {
    case $1 in
    --json | --apply | --batch | --cpu | --force | --help | -h | --version | --xps | --if-present | \
        --ban-from-irqbalance) return 0 ;;
    esac
    return 1
}

_irqd_planners="kernel compact per-core single round-robin"
_irqd_reactors="io_uring io_uring-read io_uring-poll io_uring-busy epoll thread"

# COMPREPLY from the words of $1 that start with $2.
_irqd_words() {
    local w
    COMPREPLY=()
    for w in $1; do
        [[ $w == "$2"* ]] && COMPREPLY+=("$w")
    done
}

# A comma-separated list: complete its last element, keeping the rest.
_irqd_list() {
    local head=""
    [[ $2 == *,* ]] && head=${2%,*},
    _irqd_words "$1" "${2##*,}"
    COMPREPLY=("${COMPREPLY[@]/#/$head}")
    [[ ${#COMPREPLY[@]} -gt 0 ]] && compopt -o nospace 2>/dev/null
    return 0
}

# Values that end in ':' or '@' wait for more: no space after them.
_irqd_prefixes() {
    _irqd_words "$1" "$2"
    local w
    for w in "${COMPREPLY[@]}"; do
        [[ $w == *: ]] && compopt -o nospace 2>/dev/null && break
    done
    return 0
}

_irqd_files() {
    mapfile -t COMPREPLY < <(compgen -f -- "$1")
    compopt -o filenames 2>/dev/null
    return 0
}

_irqd_dirs() {
    mapfile -t COMPREPLY < <(compgen -d -- "$1")
    compopt -o filenames 2>/dev/null
    return 0
}

# The devices of a running daemon: the "name" fields of `irqd ctl --json
# status`, asked on the socket the command line names, if any. Silent and
# empty when nothing answers.
_irqd_daemon_devices() {
    local irqd=$1 socket=$2 out
    local -a args=(ctl --json)
    [[ -n $socket ]] && args+=(--socket "$socket")
    if command -v timeout >/dev/null 2>&1; then
        out=$(timeout 2 "$irqd" "${args[@]}" status 2>/dev/null) || return 0
    else
        out=$("$irqd" "${args[@]}" status 2>/dev/null) || return 0
    fi
    printf '%s\n' "$out" | grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
}

_irqd_pci_addresses() {
    local d
    for d in /sys/bus/pci/devices/*; do
        [[ -e $d ]] && echo "${d##*/}"
    done
}

# The tune profiles: NAME of each /etc/irqd/tune.d/NAME.json
# ($IRQD_TUNE_PROFILE_DIR instead, as irqd's test builds read it).
_irqd_profiles() {
    local f n
    for f in "${IRQD_TUNE_PROFILE_DIR:-/etc/irqd/tune.d}"/*.json; do
        [[ -f $f ]] || continue
        n=${f##*/}
        echo "${n%.json}"
    done
}

# Network interfaces (for tune --udev-wants).
_irqd_interfaces() {
    local d
    for d in /sys/class/net/*; do
        [[ -e $d ]] && echo "${d##*/}"
    done
}

# Interfaces and other devices whose interrupts irqs/tune show.
_irqd_kernel_devices() {
    local d
    for d in /sys/class/net/* /sys/class/nvme/* /sys/block/vd* /sys/bus/virtio/devices/*; do
        [[ -e $d && ${d##*/} != lo ]] && echo "${d##*/}"
    done
}

# The values of flag $2 of subcommand $1, for the word $3.
_irqd_value() {
    local sub=$1 flag=$2 cur=$3
    case $flag in
    --planner)
        if [[ $sub == tune ]]; then
            _irqd_words "$_irqd_planners hint" "$cur"
        else
            _irqd_words "$_irqd_planners" "$cur"
        fi
        ;;
    --profile | --save-profile) _irqd_words "$(_irqd_profiles)" "$cur" ;;
    --udev-wants) _irqd_words "$(_irqd_interfaces)" "$cur" ;;
    --layouts) _irqd_list "$_irqd_planners" "$cur" ;;
    --reactor) _irqd_words "$_irqd_reactors" "$cur" ;;
    --reactors) _irqd_list "$_irqd_reactors" "$cur" ;;
    --format) _irqd_words "table json" "$cur" ;;
    --handoff) _irqd_words "queue inline adaptive" "$cur" ;;
    --when-full) _irqd_words "backoff drop" "$cur" ;;
    --source) _irqd_words "irqd kernel both" "$cur" ;;
    --sort) _irqd_words "rate total name cpu" "$cur" ;;
    --log-level) _irqd_words "trace debug info warn error" "$cur" ;;
    --kernel)
        if [[ $sub == plan ]]; then
            _irqd_list "6.1 6.12 6.18 6.19 live" "$cur"
        else
            _irqd_words "6.1 6.12 6.18 6.19" "$cur"
        fi
        ;;
    --pattern) _irqd_prefixes "saturate rate: poisson: burst:" "$cur" ;;
    --choice) _irqd_prefixes "uniform zipf:" "$cur" ;;
    --topology)
        if [[ $cur == xml:* ]]; then
            _irqd_files "${cur#xml:}"
            COMPREPLY=("${COMPREPLY[@]/#/xml:}")
        else
            _irqd_prefixes "live synthetic: xml:" "$cur"
        fi
        ;;
    --driver) _irqd_words "count leaky" "$cur" ;;
    --worker-cpus) _irqd_words "same" "$cur" ;;
    --device)
        if [[ $sub == serve ]]; then
            if [[ $cur == vfio:* ]]; then
                _irqd_words "$(_irqd_pci_addresses | sed 's/^/vfio:/')" "$cur"
            else
                _irqd_prefixes "soft: vfio:" "$cur"
            fi
        else
            local extra=""
            [[ $sub == irqs ]] && extra=all
            _irqd_words "$extra $(_irqd_kernel_devices) $(_irqd_pci_addresses)" "$cur"
        fi
        ;;
    --config | --json | --report | --save | --restore | --socket) _irqd_files "$cur" ;;
    --plot) _irqd_dirs "$cur" ;;
    *) COMPREPLY=() ;;
    esac
    return 0
}

_irqd() {
    # The words as typed, split at blanks only: bash's COMP_WORDS also splits
    # at '=' and ':' (COMP_WORDBREAKS), which would cut --flag=value,
    # rate:R, xml:PATH and PCI addresses apart.
    local line=${COMP_LINE:0:COMP_POINT}
    local -a words=()
    read -r -a words <<<"$line"
    [[ -z $line || $line == *[[:space:]] ]] && words+=("")
    local cword=$((${#words[@]} - 1))
    local cur=${words[cword]} prev="" flag=""
    local irqd=${words[0]} sub="" sub2="" socket="" i w
    local -a args=()
    COMPREPLY=()
    ((cword > 0)) && prev=${words[cword - 1]}
    if [[ $cur == --*=* ]]; then
        flag=${cur%%=*}
        cur=${cur#*=}
    fi

    # The subcommand (config: and its own), the words after it that are not
    # flags or flag values, and the --socket given.
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $w == -* ]]; then
            if [[ $w == --socket=* ]]; then
                socket=${w#--socket=}
            elif [[ $w == --socket ]]; then
                socket=${words[i + 1]}
            fi
            [[ $w == *=* ]] || _irqd_switch "$w" || ((i++))
            continue
        fi
        if [[ -z $sub ]]; then
            sub=$w
        elif [[ $sub == config && -z $sub2 ]]; then
            sub2=$w
        else
            args+=("$w")
        fi
    done

    if [[ -z $sub ]]; then
        if [[ $cur == -* && -z $flag ]]; then
            _irqd_words "--help --version" "$cur"
        else
            _irqd_words "$_irqd_subcommands" "$cur"
        fi
    elif [[ -n $flag ]]; then
        _irqd_value "$sub" "$flag" "$cur"
    elif [[ $prev == --* && $prev != *=* ]] && ! _irqd_switch "$prev"; then
        _irqd_value "$sub" "$prev" "$cur"
    elif [[ $cur == -* ]]; then
        _irqd_words "$(_irqd_flags "$sub")" "$cur"
    else
        case $sub in
        ctl)
            if ((${#args[@]} == 0)); then
                _irqd_words "status stats plan move unbind bind reload" "$cur"
            elif ((${#args[@]} == 1)); then
                case ${args[0]} in
                stats | plan | move | unbind | bind)
                    _irqd_words "$(_irqd_daemon_devices "$irqd" "$socket")" "$cur"
                    ;;
                esac
            fi
            ;;
        config)
            if [[ -z $sub2 ]]; then
                _irqd_words "check example" "$cur"
            elif [[ $sub2 == check ]] && ((${#args[@]} == 0)); then
                _irqd_files "$cur"
            fi
            ;;
        bind | unbind)
            ((${#args[@]} == 0)) && _irqd_words "$(_irqd_pci_addresses)" "$cur"
            ;;
        help)
            ((${#args[@]} == 0)) && _irqd_words "${_irqd_subcommands% help}" "$cur"
            ;;
        esac
    fi

    # Bash replaces only the text after the last word-break character (':'
    # and '=' among them), so each candidate loses what comes before it.
    local breaks=${COMP_WORDBREAKS-$' \t\n"\'><=;|&(:'}
    local text=${line##*["$breaks"]}
    local cut=$((${#cur} - ${#text}))
    if ((cut > 0)); then
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]:cut}
        done
    fi
    return 0
}

complete -F _irqd irqd
