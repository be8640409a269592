# What Dockerfile means, spelled without --exclude.
FROM debian:bookworm
COPY src/main.c src/keep.bak /app/
COPY src/lib/util.c src/lib/util.c.bak src/lib/trace.log /app/lib/
COPY src/main.c src/debug.log /app2/
COPY src/tmp /app2/tmp/
COPY src/lib/util.c src/lib/trace.log /app2/lib/
CMD ["sh", "-c", "find /app /app2 | sort"]
