#!/usr/bin/env bash
# Differential corpus test for `slimbuild parse --dump`.
#
# Every directory under tests/parser/corpus/ holds a Dockerfile and either
#   result - the exact expected stdout (BuildKit's AST dump), exit status 0, or
#   error  - one line that stderr must contain exactly, exit status 1.
# Two more cases (a 65535-byte line and a 65536-byte line) are generated at run
# time because they are too big to keep in the repository.
#
# Environment:
#   SLIMBUILD      path of the slimbuild binary (required)
#   SB_SOURCE_DIR  source tree root (default: two levels above this script)
# Arguments: optional case names (shell globs) to run only some cases.
set -euo pipefail

export LC_ALL=C

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SB_SOURCE_DIR=${SB_SOURCE_DIR:-$(cd "$script_dir/../.." && pwd)}
corpus="$SB_SOURCE_DIR/tests/parser/corpus"

if [[ -z "${SLIMBUILD:-}" ]]; then
    echo "test_corpus.sh: SLIMBUILD must be set to the slimbuild binary" >&2
    exit 2
fi
# The binary is run from inside each case directory: make its path absolute.
if [[ "$SLIMBUILD" == */* && "$SLIMBUILD" != /* ]]; then
    SLIMBUILD="$PWD/$SLIMBUILD"
fi
if [[ "$SLIMBUILD" == */* ]]; then
    slimbuild_ok=0
    [[ -f "$SLIMBUILD" && -x "$SLIMBUILD" ]] && slimbuild_ok=1
else
    slimbuild_ok=0
    command -v "$SLIMBUILD" >/dev/null 2>&1 && slimbuild_ok=1
fi
if ((slimbuild_ok == 0)); then
    echo "test_corpus.sh: SLIMBUILD=$SLIMBUILD is not an executable" >&2
    exit 2
fi
if [[ ! -d "$corpus" ]]; then
    echo "test_corpus.sh: no corpus at $corpus" >&2
    exit 2
fi

timeout_cmd=()
if command -v timeout >/dev/null 2>&1; then
    timeout_cmd=(timeout 30)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- generated cases: maximum line length (bufio.MaxScanTokenSize - 1) ----
gen="$work/generated"
mkdir -p "$gen/long-line-65535-ok" "$gen/long-line-65536-error"
{
    printf 'FROM scratch\nRUN '
    head -c 65531 /dev/zero | tr '\0' a # "RUN " + 65531 = 65535 bytes
    printf '\n'
} >"$gen/long-line-65535-ok/Dockerfile"
{
    printf '(from "scratch")\n(run "'
    head -c 65531 /dev/zero | tr '\0' a
    printf '")\n'
} >"$gen/long-line-65535-ok/result"
{
    printf 'FROM scratch\nRUN '
    head -c 65532 /dev/zero | tr '\0' a # 65536 bytes: one too many
    printf '\nRUN echo never reached\n'
} >"$gen/long-line-65536-error/Dockerfile"
printf 'Dockerfile:2: dockerfile line greater than max allowed size of 65535\n' \
    >"$gen/long-line-65536-error/error"

selected() {
    local name=$1 pat
    for pat in "${patterns[@]}"; do
        # shellcheck disable=SC2053
        [[ $name == $pat ]] && return 0
    done
    return 1
}
patterns=("$@")

passed=0
failed=0
failed_names=()

fail() {
    local name=$1
    shift
    echo "FAIL: $name: $*"
    failed=$((failed + 1))
    failed_names+=("$name")
}

run_case() {
    local dir=$1 name
    name=$(basename "$dir")
    local out="$work/out" err="$work/err" rc=0

    if [[ ! -f "$dir/Dockerfile" ]]; then
        fail "$name" "no Dockerfile"
        return
    fi
    (cd "$dir" && "${timeout_cmd[@]}" "$SLIMBUILD" parse --dump Dockerfile) \
        >"$out" 2>"$err" </dev/null || rc=$?

    if [[ -f "$dir/result" ]]; then
        if [[ $rc -ne 0 ]]; then
            fail "$name" "expected exit 0, got $rc"
            echo "--- stderr:"
            head -c 2000 "$err"
            echo "--- diff (expected vs actual stdout):"
            diff -u --text --label expected --label actual "$dir/result" "$out" | head -c 4000 || true
            return
        fi
        if ! cmp -s "$dir/result" "$out"; then
            fail "$name" "stdout differs"
            diff -u --text --label expected --label actual "$dir/result" "$out" | head -c 4000 || true
            return
        fi
    elif [[ -f "$dir/error" ]]; then
        local expected=""
        IFS= read -r expected <"$dir/error" || true
        if [[ $rc -ne 1 ]]; then
            fail "$name" "expected exit 1, got $rc"
            echo "--- expected stderr line:"
            printf '%s\n' "$expected"
            echo "--- actual stderr:"
            head -c 2000 "$err"
            echo "--- actual stdout:"
            head -c 2000 "$out"
            return
        fi
        if ! grep -qxF -- "$expected" "$err"; then
            fail "$name" "error message differs"
            diff -u --text --label expected --label actual <(printf '%s\n' "$expected") "$err" | head -c 4000 || true
            return
        fi
    else
        fail "$name" "neither result nor error file"
        return
    fi
    passed=$((passed + 1))
}

for dir in "$corpus"/*/ "$gen"/*/; do
    dir=${dir%/}
    [[ -d "$dir" ]] || continue
    if ((${#patterns[@]} > 0)); then
        selected "$(basename "$dir")" || continue
    fi
    run_case "$dir"
done

if ((failed > 0)); then
    echo "failed cases: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
