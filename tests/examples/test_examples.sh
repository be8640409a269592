#!/usr/bin/env bash
# The example apps (examples/*/): each fat Dockerfile built with slimbuild,
# measured (compressed layers, unpacked size, files), loaded into podman and
# run under the probes in its examples/NAME/probes (format: examples/PROBES.md).
# Then each is built slim with the same probes as --http-probe/--probe-cmd
# flags, run again, and must answer every probe exactly as the fat image
# did and stay below examples/NAME/max-slim-size.
#
# HTTP services run with `--network none` (a network namespace holding only
# loopback, no ports published, nothing left in the host's firewall), and the
# host's curl sends each request from inside that namespace (nsenter -n), as
# slimbuild's own HTTP probes do; it works for slim images that hold no
# client of their own.
#
# SB_EXAMPLES="c-tls shell-app" runs a subset.
source "$(dirname "$0")/../integration/lib.sh"
EX=$SB_SOURCE_DIR/examples
read -ra NAMES <<<"${SB_EXAMPLES:-python-web node-web c-tls shell-app}"
P=(podman --root "$SB_T/podman" --runroot "$SB_T/podman-run" --storage-driver overlay)
RUNOPTS=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none)
T0=$(date +%s)

BASE_TAR=$(sb_base_rootfs_tar)
"$SLIMBUILD" import "$BASE_TAR" debian:bookworm >/dev/null

# -- the probes file: PK kind, PA what to run, PS status or exit code,
#    PE body text (http) or expected stdout file (cmd)
load_probes() {
  PK=() PA=() PS=() PE=()
  local kind rest m port path st text
  while read -r kind rest; do
    case $kind in
      '' | '#'*) ;;
      http)
        read -r m port path st text <<<"$rest"
        PK+=(http) PA+=("$m $port $path") PS+=("$st") PE+=("$text") ;;
      cmd) PK+=(cmd) PA+=("$rest") PS+=(0) PE+=("") ;;
      stdout) PE[-1]=$rest ;;
      exit) PS[-1]=$rest ;;
      *) echo "$1/probes: unknown probe '$kind'" >&2; return 1 ;;
    esac
  done <"$1/probes"
}

# The same probes as slimbuild build flags (one per line, for mapfile).
probe_flags() {
  local i m port path
  for i in "${!PK[@]}"; do
    case ${PK[$i]} in
      http) read -r m port path <<<"${PA[$i]}"; printf '%s\n' --http-probe "$m $port$path=${PS[$i]}" ;;
      cmd) printf '%s\n' --probe-cmd "${PA[$i]}" ;;
    esac
  done
}

# run_probes IMAGE LABEL DIR RESULTS: run every probe against IMAGE under
# podman, check each against the probes file, and write one result line per
# probe (status or exit code, and the SHA-256 of the body or stdout).
run_probes() {
  local img=$1 label=$2 dir=$3 res=$4 i m port path code rc cid="" pid ports=() p ok_up
  local o=$SB_T/probe.out e=$SB_T/probe.err
  : >"$res"
  for i in "${!PK[@]}"; do
    [ "${PK[$i]}" = http ] || continue
    read -r m port path <<<"${PA[$i]}"
    [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
  done
  if [ "${#ports[@]}" -gt 0 ]; then
    cid=$("${P[@]}" run -d "${RUNOPTS[@]}" "$img")
    pid=$("${P[@]}" inspect -f '{{.State.Pid}}' "$cid")
    for p in "${ports[@]}"; do
      ok_up=1
      for ((w = 0; w < 300; w++)); do
        nsenter -t "$pid" -n curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$p/" && { ok_up=0; break; }
        [ "$("${P[@]}" inspect -f '{{.State.Running}}' "$cid")" = true ] || break
        sleep 0.1
      done
      check "$label: the service answers on port $p" [ "$ok_up" = 0 ]
    done
  fi
  for i in "${!PK[@]}"; do
    case ${PK[$i]} in
      http)
        read -r m port path <<<"${PA[$i]}"
        code=$(nsenter -t "$pid" -n curl -sS -X "$m" -o "$o" -w '%{http_code}' --max-time 10 \
          "http://127.0.0.1:$port$path" 2>"$e") || true
        check "$label: $m $port$path answers ${PS[$i]} ($code)" [ "$code" = "${PS[$i]}" ]
        if [ -n "${PE[$i]}" ]; then
          check "$label: $m $port$path body holds '${PE[$i]}'" grep -qF -- "${PE[$i]}" "$o"
        fi
        echo "http $m $port$path $code $(sha256sum <"$o" | cut -c1-64)" >>"$res"
        ;;
      cmd)
        set +e -f
        # shellcheck disable=SC2086 # the probe's words, unquoted on purpose
        "${P[@]}" run --rm "${RUNOPTS[@]}" "$img" ${PA[$i]} >"$o" 2>"$e"
        rc=$?
        set -e +f
        check "$label: cmd '${PA[$i]}' exits ${PS[$i]} ($rc)" [ "$rc" = "${PS[$i]}" ]
        if [ -n "${PE[$i]}" ]; then
          if cmp -s "$dir/${PE[$i]}" "$o"; then
            ok "$label: cmd '${PA[$i]}' prints ${PE[$i]}"
          else
            not_ok "$label: cmd '${PA[$i]}' prints ${PE[$i]}"
            diff "$dir/${PE[$i]}" "$o" | head -20 >&2 || true
            head -5 "$e" >&2
          fi
        fi
        echo "cmd ${PA[$i]} $rc $(sha256sum <"$o" | cut -c1-64)" >>"$res"
        ;;
    esac
  done
  if [ -n "$cid" ]; then
    if [ "$FAIL" -gt 0 ]; then "${P[@]}" logs "$cid" 2>&1 | tail -20 >&2 || true; fi
    "${P[@]}" rm -f -t 2 "$cid" >/dev/null 2>&1 || true
  fi
}

# measure IMAGE: print "COMPRESSED UNPACKED ENTRIES" (bytes, bytes, count)
measure() {
  local u=$SB_T/unpacked comp
  comp=$("$SLIMBUILD" inspect "$1" | jq '[.[0].Manifest.layers[].size] | add')
  rm -rf "$u"
  "$SLIMBUILD" unpack "$1" "$u" >/dev/null
  # bytes of files and symlinks (not directories: their size is the
  # filesystem's business), and the number of entries
  echo "$comp $(find "$u" ! -type d -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }') $(find "$u" | wc -l)"
  rm -rf "$u"
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# build_and_probe NAME DIR KIND BUILD-FLAGS...: build NAME:KIND from DIR,
# measure it, load it into podman and run the probes against it (results in
# $SB_T/NAME.KIND.res). Sets BT (build seconds), COMP, UNP, FILES (measure);
# returns 1 when the build fails.
build_and_probe() {
  local name=$1 dir=$2 kind=$3 t rc
  shift 3
  t=$(date +%s)
  set +e
  "$SLIMBUILD" build --progress plain "$@" -t "$name:$kind" "$dir" >"$SB_T/$name.$kind.log" 2>&1
  rc=$?
  set -e
  BT=$(($(date +%s) - t))
  check "$name: the $kind image builds (${BT}s)" [ "$rc" = 0 ]
  if [ "$rc" != 0 ]; then tail -30 "$SB_T/$name.$kind.log" >&2; return 1; fi
  read -r COMP UNP FILES < <(measure "$name:$kind")
  echo "# $name $kind: $(mb "$COMP") compressed, $(mb "$UNP") unpacked, $FILES entries"
  "$SLIMBUILD" save --format docker -o "$SB_T/$name.tar" "$name:$kind"
  check "$name: podman loads the $kind image" bash -c '"$@" >/dev/null' _ "${P[@]}" load -q -i "$SB_T/$name.tar"
  rm -f "$SB_T/$name.tar"
  run_probes "$name:$kind" "$name $kind" "$dir" "$SB_T/$name.$kind.res"
  "${P[@]}" rmi -f "$name:$kind" >/dev/null 2>&1 || true
}

SUMMARY=()
for name in "${NAMES[@]}"; do
  dir=$EX/$name
  load_probes "$dir"
  echo "# $name: ${#PK[@]} probes"
  build_and_probe "$name" "$dir" fat --no-slim || continue
  unp=$UNP
  line="$name: build ${BT}s, fat $(mb "$COMP") compressed / $(mb "$UNP") unpacked / $FILES entries"

  bound=$(grep -v '^#' "$dir/max-slim-size" 2>/dev/null | tr -d ' \n' || true)
  check "$name: max-slim-size holds a size ($bound)" bash -c 'numfmt --from=iec "$1" >/dev/null' _ "${bound:-x}"
  mapfile -t flags < <(probe_flags)
  build_and_probe "$name" "$dir" slim "${flags[@]}" || continue
  check "$name: slim answers every probe as fat did" diff "$SB_T/$name.fat.res" "$SB_T/$name.slim.res"
  check "$name: slim unpacked $(mb "$UNP") <= $bound" [ "$UNP" -le "$(numfmt --from=iec "${bound:-0}")" ]
  SUMMARY+=("$line; slim ${BT}s, $(mb "$COMP") compressed / $(mb "$UNP") unpacked / $FILES entries ($(awk -v a="$UNP" -v b="$unp" 'BEGIN { printf "%.1f%%", 100 * a / b }') of fat)")
done

echo "# summary ($(($(date +%s) - T0))s)"
for line in "${SUMMARY[@]}"; do echo "#   $line"; done
finish
