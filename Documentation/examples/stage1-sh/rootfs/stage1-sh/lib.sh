# Shared helpers of the example stage1 (see its README.md). POSIX sh; sourced, not executed.
# Implements Documentation/stage1-protocol.md, protocol version 1. Needs jq.

S1_NAME=example.com/stage1-sh
S1_VERSION=0.1.0
S1_PROTOCOL=1
S1_FEATURES='["run","enter","stop","gc","interactive","hostname","ipc-modes"]'
S1_DIR=$(cd "$(dirname "$0")" && pwd)

# s1_error_json CODE MSG [DETAILS]: the error object, one line.
s1_error_json() {
    if command -v jq >/dev/null 2>&1; then
        jq -cnS --argjson code "$1" --arg msg "$2" --arg details "${3-}" \
            '{code: $code, msg: $msg} + (if $details == "" then {} else {details: $details} end)'
    else
        # Without jq only fixed messages can be written safely.
        printf '{"code":%s,"msg":"stage1 error (install jq for details)"}\n' "$1"
    fi
}

# s1_fail CODE MSG [DETAILS]: report an error and exit. run and enter are exec'd by stage0 and
# their stdout belongs to the pod, so they print on stderr and exit 254; the child commands
# (gc, stop, describe) print on stdout and exit 1.
s1_fail() {
    case ${S1_COMMAND-} in
    run | enter)
        s1_error_json "$@" >&2
        exit 254
        ;;
    *)
        s1_error_json "$@"
        exit 1
        ;;
    esac
}

# s1_get JQ_ARGS...: query the request with jq, raw output.
s1_get() {
    printf '%s' "$S1_REQUEST" | jq -r "$@"
}

# s1_init COMMAND ARGS...: check argv, read and check the request. Sets S1_REQUEST, S1_COMMAND,
# S1_POD (pod directory), S1_ROOTFS (stage1 rootfs), S1_DEBUG (true|false).
s1_init() {
    S1_COMMAND=$1
    shift
    command -v jq >/dev/null 2>&1 || s1_fail 5 "this stage1 needs jq (Debian package jq)"
    for arg in "$@"; do
        case $arg in
        --stage1-protocol=*)
            [ "${arg#--stage1-protocol=}" = "$S1_PROTOCOL" ] ||
                s1_fail 1 "protocol version ${arg#--stage1-protocol=} is not supported" "supported: $S1_PROTOCOL"
            ;;
        esac
    done
    if [ -n "${RKT_STAGE1_REQUEST_FD-}" ] && S1_REQUEST=$(cat <&"$RKT_STAGE1_REQUEST_FD" 2>/dev/null) && [ -n "$S1_REQUEST" ]; then
        :
    elif [ -n "${RKT_STAGE1_REQUEST-}" ]; then
        S1_REQUEST=$(cat "$RKT_STAGE1_REQUEST") || s1_fail 5 "cannot read the request file $RKT_STAGE1_REQUEST"
    else
        s1_fail 3 "RKT_STAGE1_REQUEST is not set: this program is a stage1 entrypoint and must be started by rkt"
    fi
    version=$(s1_get 'if type == "object" then .protocolVersion // "" else error("not an object") end' 2>/dev/null) ||
        s1_fail 3 "the request is not a JSON object"
    [ -n "$version" ] || s1_fail 3 "the request has no protocolVersion"
    [ "$version" = "$S1_PROTOCOL" ] || s1_fail 1 "protocol version $version is not supported" "supported: $S1_PROTOCOL"
    command=$(s1_get '.command // ""')
    case $command in
    "$S1_COMMAND") ;;
    describe) exec "$S1_DIR/describe" "$@" ;; # every entrypoint may be asked to describe
    run | enter | gc | stop) s1_fail 2 "this entrypoint serves $S1_COMMAND, not $command" ;;
    *) s1_fail 2 "unknown command \"$command\"" ;;
    esac
    S1_POD=$(s1_get '.pod.path // ""')
    S1_ROOTFS=$(s1_get '.pod.stage1Rootfs // ""')
    [ -n "$S1_POD" ] && [ -n "$S1_ROOTFS" ] || s1_fail 3 "the request has no pod.path or pod.stage1Rootfs"
    S1_DEBUG=$(s1_get '.debug == true')
}

# s1_debug MSG: a diagnostic on stderr when the user asked for --debug.
s1_debug() {
    [ "${S1_DEBUG-false}" = true ] && printf 'stage1-sh: %s\n' "$*" >&2
    return 0
}

# s1_write FILE CONTENT: write CONTENT and a newline to FILE atomically (temp file + rename).
s1_write() {
    printf '%s\n' "$2" >"$(dirname "$1")/.$(basename "$1").tmp.$$" &&
        mv -f "$(dirname "$1")/.$(basename "$1").tmp.$$" "$1"
}

# s1_quote WORD: WORD as a single-quoted shell word, for eval.
s1_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# s1_ok: the success answer of gc and stop.
s1_ok() {
    printf '{"ok":true}\n'
    exit 0
}
