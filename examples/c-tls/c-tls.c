/* c-tls: resolve a host name and a user through NSS, then make a verified TLS
 * connection to a server this program starts itself on loopback.
 *
 *   c-tls [HOST [USER [MESSAGE]]]        defaults: localhost nobody hello
 *
 * The server presents /etc/c-tls/server.pem (signed by a CA made at build
 * time); the client trusts only the system store (OpenSSL's default verify
 * paths, /etc/ssl/certs), where update-ca-certificates put that CA, and checks
 * the certificate names HOST. Prints one deterministic line per step and
 * exits 0, or names the failing step and exits 1.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define CERT "/etc/c-tls/server.pem"
#define KEY "/etc/c-tls/server.key"

struct server {
	int fd;
	SSL_CTX *ctx;
	const char *message;
};

static int fail(const char *step)
{
	fprintf(stderr, "c-tls: %s failed\n", step);
	ERR_print_errors_fp(stderr);
	return 1;
}

/* Accept one connection, read the client's line, answer MESSAGE. */
static void *serve(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	SSL *ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, c);
	if (SSL_accept(ssl) == 1) {
		char buf[256];
		int n = SSL_read(ssl, buf, sizeof buf - 1);
		if (n > 0) {
			char out[300];
			int m = snprintf(out, sizeof out, "%s", s->message);
			SSL_write(ssl, out, m);
		}
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(c);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *host = argc > 1 ? argv[1] : "localhost";
	const char *user = argc > 2 ? argv[2] : "nobody";
	const char *message = argc > 3 ? argv[3] : "hello";

	/* 1. a host name through NSS (files: /etc/hosts, per nsswitch.conf) */
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	int err = getaddrinfo(host, "443", &hints, &ai);
	if (err) {
		fprintf(stderr, "c-tls: getaddrinfo %s: %s\n", host, gai_strerror(err));
		return 1;
	}
	char ip[INET_ADDRSTRLEN];
	struct sockaddr_in addr = *(struct sockaddr_in *)ai->ai_addr;
	inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
	freeaddrinfo(ai);
	printf("resolved %s: %s\n", host, ip);

	/* 2. a user through NSS (files: /etc/passwd) */
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		fprintf(stderr, "c-tls: no user %s\n", user);
		return 1;
	}
	printf("user %s: %u\n", user, (unsigned)pw->pw_uid);

	/* 3. a TLS server on the resolved address, an ephemeral port */
	struct server srv = { .message = message };
	srv.ctx = SSL_CTX_new(TLS_server_method());
	if (!srv.ctx || SSL_CTX_use_certificate_chain_file(srv.ctx, CERT) != 1 ||
	    SSL_CTX_use_PrivateKey_file(srv.ctx, KEY, SSL_FILETYPE_PEM) != 1)
		return fail("loading the server certificate");
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	addr.sin_port = 0;
	socklen_t len = sizeof addr;
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(srv.fd, 1) < 0 ||
	    getsockname(srv.fd, (struct sockaddr *)&addr, &len) < 0) {
		perror("c-tls: listen");
		return 1;
	}
	pthread_t th;
	if (pthread_create(&th, NULL, serve, &srv) != 0)
		return fail("starting the server");

	/* 4. the client: system trust store, host name checked */
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	if (!cctx || SSL_CTX_set_default_verify_paths(cctx) != 1)
		return fail("loading the system CA store");
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		perror("c-tls: connect");
		return 1;
	}
	SSL *ssl = SSL_new(cctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, host);
	SSL_set1_host(ssl, host);
	if (SSL_connect(ssl) != 1) {
		fprintf(stderr, "c-tls: verify result: %s\n",
		        X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
		return fail("the TLS handshake");
	}
	const char *hello = "hello from the client\n";
	SSL_write(ssl, hello, (int)strlen(hello));
	char buf[300];
	int n = SSL_read(ssl, buf, sizeof buf - 1);
	if (n <= 0)
		return fail("reading the answer");
	buf[n] = '\0';
	X509 *peer = SSL_get_peer_certificate(ssl);
	char subject[256] = "";
	if (peer)
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, subject, sizeof subject);
	printf("tls: %s verified %s (%s), got: %s\n", SSL_get_version(ssl), host, subject, buf);
	X509_free(peer);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	pthread_join(th, NULL);
	SSL_CTX_free(cctx);
	SSL_CTX_free(srv.ctx);
	close(srv.fd);
	return 0;
}
