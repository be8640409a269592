# What Dockerfile means, spelled without --parents.
FROM debian:bookworm
COPY a/b/c.txt /p/a/b/
COPY a/d/*.txt /p/a/d/
COPY x/y/z.txt /q/y/
CMD ["sh", "-c", "find /p /q | sort"]
