#!/usr/bin/env bash
# Corpus test for `slimbuild parse --stages`.
#
# Every directory under tests/stages/corpus/ holds a Dockerfile, optionally
#   args      - extra arguments, one per line (--target x, --build-arg K=V)
# and either
#   plan.json - the exact expected stdout, exit status 0, or
#   error     - one line that stderr must contain exactly, exit status 1.
# --platform linux/amd64 is passed first so that the automatic platform args
# do not depend on the machine (a case's args may give another).
#
# Environment: SLIMBUILD (the binary), SB_SOURCE_DIR (the source tree).
# Arguments: optional case names (globs). With SB_UPDATE=1 the expected
# plan.json files are rewritten from the output, for review with git diff.
set -euo pipefail
export LC_ALL=C

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SB_SOURCE_DIR=${SB_SOURCE_DIR:-$(cd "$script_dir/../.." && pwd)}
corpus="$SB_SOURCE_DIR/tests/stages/corpus"

if [[ -z "${SLIMBUILD:-}" ]]; then
    echo "test_stages_corpus.sh: SLIMBUILD must be set to the slimbuild binary" >&2
    exit 2
fi
if [[ "$SLIMBUILD" == */* && "$SLIMBUILD" != /* ]]; then
    SLIMBUILD="$PWD/$SLIMBUILD"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
failed_names=()

fail() {
    echo "FAIL: $1: $2"
    failed=$((failed + 1))
    failed_names+=("$1")
}

run_case() {
    local dir=$1 name rc=0
    name=$(basename "$dir")
    local args=(--platform linux/amd64)
    if [[ -f "$dir/args" ]]; then
        while IFS= read -r line; do
            [[ -n "$line" ]] && args+=("$line")
        done <"$dir/args"
    fi
    (cd "$dir" && timeout 30 "$SLIMBUILD" parse --stages "${args[@]}" Dockerfile) \
        >"$work/out" 2>"$work/err" </dev/null || rc=$?
    if [[ -f "$dir/plan.json" ]]; then
        if [[ $rc -ne 0 ]]; then
            fail "$name" "expected exit 0, got $rc"
            head -c 2000 "$work/err"
            return
        fi
        if [[ "${SB_UPDATE:-}" == 1 ]]; then
            cp "$work/out" "$dir/plan.json"
        elif ! cmp -s "$dir/plan.json" "$work/out"; then
            fail "$name" "plan differs"
            diff -u --label expected --label actual "$dir/plan.json" "$work/out" | head -c 4000 || true
            return
        fi
    elif [[ -f "$dir/error" ]]; then
        local expected
        IFS= read -r expected <"$dir/error" || true
        if [[ $rc -ne 1 ]]; then
            fail "$name" "expected exit 1, got $rc"
            head -c 2000 "$work/err"
            return
        fi
        if ! grep -qxF -- "$expected" "$work/err"; then
            fail "$name" "error message differs"
            diff -u --label expected --label actual <(printf '%s\n' "$expected") "$work/err" | head -c 4000 || true
            return
        fi
    else
        fail "$name" "neither plan.json nor error"
        return
    fi
    passed=$((passed + 1))
}

for dir in "$corpus"/*/; do
    dir=${dir%/}
    if (($# > 0)); then
        ok=0
        for pat in "$@"; do
            # shellcheck disable=SC2053
            [[ $(basename "$dir") == $pat ]] && ok=1
        done
        ((ok)) || continue
    fi
    run_case "$dir"
done

((failed > 0)) && echo "failed cases: ${failed_names[*]}"
echo "$passed passed, $failed failed"
((failed == 0))
