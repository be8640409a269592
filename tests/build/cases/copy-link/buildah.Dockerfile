# COPY (alone, with --chmod and --chown): same tree as without it.
FROM debian:bookworm
COPY file.txt /linked/
COPY --chmod=700 --chown=12:34 dir/ /linked/dir/
RUN find /linked -exec stat -c '%n %u:%g %a' {} + | sort > /linked.txt
CMD ["cat", "/linked.txt"]
