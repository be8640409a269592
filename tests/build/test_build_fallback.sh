# Without overlayfs (SLIMBUILD_NO_OVERLAY=1 forces it) every step runs on
# flattened copies and layers are tree diffs: the images must have the
# same file trees and configs as the overlay path's, and run the same.
source "$(dirname "$0")/../integration/lib.sh"
CMP=$SB_SOURCE_DIR/tests/build/compare.py

BASE_TAR=$(sb_base_rootfs_tar)
"$SLIMBUILD" import "$BASE_TAR" debian:bookworm >/dev/null

C=$SB_T/ctx
mkdir -p "$C/dir"
echo one >"$C/dir/a"
echo two >"$C/b"
cat >"$C/Dockerfile" <<'DFEOF'
FROM debian:bookworm AS base
RUN mkdir -p /data/keep /data/gone && echo x > /data/gone/f && echo y > /data/keep/f && \
    ln -s /data/keep /data/link && mkfifo /data/fifo && chmod 4755 /usr/bin/env
RUN rm -rf /data/gone /usr/share/doc /etc/debian_version && echo z > /data/keep/g && \
    rm -rf /var/cache/apt && mkdir /var/cache/apt && echo new > /var/cache/apt/only
WORKDIR /srv/app
COPY dir/ ./dir/
COPY --chmod=0600 b .
RUN --mount=type=bind,source=dir,target=/mnt/ctx,rw touch /mnt/ctx/scratch && cat /mnt/ctx/a > copied
FROM scratch
COPY --from=base /data /data
COPY --from=base /srv/app /app
DFEOF

for mode in overlay copy; do
  export SLIMBUILD_ROOT=$SB_T/store-$mode
  "$SLIMBUILD" import "$BASE_TAR" debian:bookworm >/dev/null
  env=()
  [ $mode = copy ] && env=(env SLIMBUILD_NO_OVERLAY=1)
  for target in base ""; do
    tag=$mode-${target:-final}
    if [ -n "$target" ]; then tflag=(--target "$target"); else tflag=(); fi
    check "$mode: builds $tag" bash -c '"${@}" >/dev/null 2>&1' _ "${env[@]}" "$SLIMBUILD" build --no-slim \
      --progress plain "${tflag[@]}" -t "$tag" "$C"
    "$SLIMBUILD" unpack "$tag" "$SB_T/root-$tag" >/dev/null
    python3 "$CMP" tree "$SB_T/root-$tag" >"$SB_T/$tag.tree"
    "$SLIMBUILD" inspect "$tag" >"$SB_T/$tag.json"
    python3 "$CMP" config slimbuild "$SB_T/$tag.json" >"$SB_T/$tag.config"
  done
done
for t in base final; do
  check "$t: the copy path's tree equals the overlay path's" diff -u "$SB_T/overlay-$t.tree" "$SB_T/copy-$t.tree"
  check "$t: the same config" diff -u "$SB_T/overlay-$t.config" "$SB_T/copy-$t.config"
done
check "the copy path deleted across layers" bash -c "! grep -q '^/data/gone' '$SB_T/copy-base.tree' && ! grep -qP '^/usr/share/doc(/|\t)' '$SB_T/copy-base.tree'"
check "the copy path emptied a replaced directory" bash -c "[ \$(grep -c '^/var/cache/apt/' '$SB_T/copy-base.tree') = 1 ]"
check "the copy path kept the setuid bit" grep -q $'^/usr/bin/env\tf\t4755' "$SB_T/copy-base.tree"
check "a read-write bind mount leaves the context alone" test ! -e "$C/dir/scratch"
export SLIMBUILD_ROOT=$SB_T/store-copy
out=$(env SLIMBUILD_NO_OVERLAY=1 "$SLIMBUILD" build --no-slim --progress plain --target base -t copy-again "$C" 2>&1)
check "the copy path's steps are cached" [ "$(grep -c ' CACHED$' <<<"$out")" -ge 5 ]
finish
