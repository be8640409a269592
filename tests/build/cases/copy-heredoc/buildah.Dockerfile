# What Dockerfile means, spelled without heredocs.
FROM debian:bookworm
ARG WHO=builder
ENV APP=demo
RUN printf 'app=%s\nwho=%s\n' "$APP" "$WHO" > /etc/app.conf
RUN printf '#!/bin/sh\necho "greet $1"\n' > /usr/local/bin/greet && chmod 755 /usr/local/bin/greet
RUN mkdir /multi && echo 'in a' > /multi/A && echo 'in b' > /multi/B
CMD ["sh", "-c", "cat /etc/app.conf; greet there; stat -c '%n %a' /etc/app.conf /usr/local/bin/greet; cat /multi/A /multi/B"]
