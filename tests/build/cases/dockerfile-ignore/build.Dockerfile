# -f with a Dockerfile that has its own NAME.dockerignore: that file is
# used and .dockerignore is not.
FROM debian:bookworm
COPY . /ctx/
CMD ["sh", "-c", "cd /ctx && find . | sort"]
