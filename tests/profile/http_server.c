/* A tiny static HTTP server that test_probe.c runs as an image's command
 * (built with `cc -static`, copied into the test layer as /http_server).
 *
 *   http_server PORT         listen on 0.0.0.0:PORT; GET /x answers 200
 *                            with "x:" and /etc/os-release (read on each
 *                            request, so the trace shows it); any other
 *                            path answers 404 "not found"
 *   http_server PORT never   never listen; sleep until killed
 *
 * Signals keep their default actions: SIGTERM ends it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void answer(int c)
{
	char req[4096], body[8192], head[256];
	size_t got = 0, blen = 0;
	const char *status = "404 Not Found";
	int fd;

	while (got < sizeof(req) - 1) {
		ssize_t n = read(c, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = '\0';
	if (strncmp(req, "GET /x ", 7) == 0) {
		status = "200 OK";
		memcpy(body, "x:", 2);
		blen = 2;
		fd = open("/etc/os-release", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, body + blen, sizeof(body) - blen);
			if (n > 0)
				blen += (size_t)n;
			close(fd);
		}
	} else {
		memcpy(body, "not found\n", 10);
		blen = 10;
	}
	int hl = snprintf(head, sizeof(head), "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
			  status, blen);
	/* a client that hung up is no reason to die of SIGPIPE */
	if (send(c, head, (size_t)hl, MSG_NOSIGNAL) < 0 || send(c, body, blen, MSG_NOSIGNAL) < 0)
		perror("send");
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	int s, one = 1;

	if (argc < 2)
		return 2;
	if (argc > 2 && strcmp(argv[2], "never") == 0)
		for (;;)
			pause();
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		perror("listen");
		return 1;
	}
	printf("listening on %s\n", argv[1]);
	fflush(stdout);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		answer(c);
		close(c);
	}
}
