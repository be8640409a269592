# What Dockerfile means, spelled without heredocs.
FROM debian:bookworm
RUN echo line1 > /h1.txt && echo line2 >> /h1.txt
RUN ["bash", "-c", "arr=(x y z); echo \"${arr[1]}\" > /h2.txt"]
RUN echo 'tabs stripped' > /h3.txt
RUN printf 'first %s\nsecond $HOME\n' "$HOME" > /h4.txt
RUN echo "shebang bash" > /h5.txt
CMD ["sh", "-c", "cat /h1.txt /h2.txt /h3.txt /h4.txt /h5.txt"]
