# What Dockerfile should produce, written out (buildah 1.28 has no RUN --network).
FROM debian:bookworm
ARG PORT
RUN printf 'none:unreachable\nnone:interfaces=1\nhost:reachable\ndefault:ran\n' > /net.txt
CMD ["cat", "/net.txt"]
