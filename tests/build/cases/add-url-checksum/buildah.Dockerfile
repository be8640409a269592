# ADD --checksum of an http URL (and of a local file, which BuildKit only
# allows for URLs, so only the URL form here).
FROM debian:bookworm
ARG PORT
ADD http://127.0.0.1:${PORT}/payload.txt /dl/checked.txt
CMD ["sh", "-c", "stat -c '%n %a' /dl/checked.txt; cat /dl/checked.txt"]
