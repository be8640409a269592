/* Registry authentication: WWW-Authenticate challenges (RFC 7235), docker
 * config credentials, bearer tokens (the distribution token spec) cached
 * per scope, and basic auth. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "runtime/core/fs.h"
#include "runtime/registry/internal.h"

/* ---- WWW-Authenticate ---- */

static bool is_tchar(char ch)
{
	/* RFC 7230 section 3.2.6 token characters */
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static const char *skip_list_sep(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

/* A quoted-string (p at the opening quote) or, leniently, an unquoted value
 * up to the next comma or blank: some registries send scope=repository:a:pull
 * unquoted, and ':' is not a tchar. */
static int parse_value(const char **pp, char **out, struct sb_error **err)
{
	const char *p = *pp;
	struct sb_strbuf sb = SB_STRBUF_INIT;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (!*p) {
				sb_strbuf_release(&sb);
				return sb_error_setx(err, EINVAL, "WWW-Authenticate: unterminated quoted string");
			}
			if (*p == '\\' && p[1])
				p++;
			sb_strbuf_addc(&sb, *p);
		}
		p++;
	} else {
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			sb_strbuf_addc(&sb, *p++);
	}
	*out = sb_strbuf_detach(&sb, NULL);
	*pp = p;
	return 0;
}

static struct sb_auth_challenge *challenge_add(struct sb_auth_challenges *cs, const char *scheme, size_t n)
{
	struct sb_auth_challenge *c;

	cs->v = sb_xgrow(cs->v, &cs->alloc, cs->n + 1, sizeof(*cs->v));
	c = &cs->v[cs->n++];
	memset(c, 0, sizeof(*c));
	c->scheme = sb_xstrndup(scheme, n);
	for (char *q = c->scheme; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return c;
}

int sb_auth_parse_challenges(const char *header, struct sb_auth_challenges *out, struct sb_error **err)
{
	const char *p = skip_list_sep(header);

	while (*p) {
		const char *s = p;
		struct sb_auth_challenge *c;

		while (is_tchar(*p))
			p++;
		if (p == s)
			return sb_error_setx(err, EINVAL, "WWW-Authenticate: expected an auth scheme at '%.20s'", p);
		c = challenge_add(out, s, (size_t)(p - s));
		p = skip_ows(p);
		/* auth-params until a token not followed by '=' starts the next
		 * challenge */
		while (*p) {
			const char *name = p, *after;
			size_t nlen;
			char *value = NULL;
			char **slot = NULL;

			while (is_tchar(*p))
				p++;
			nlen = (size_t)(p - name);
			after = skip_ows(p);
			if (nlen == 0 || *after != '=') {
				if (nlen == 0 && *p == ',') {
					p = skip_list_sep(p);
					continue;
				}
				if (nlen == 0)
					return sb_error_setx(err, EINVAL, "WWW-Authenticate: unexpected '%.20s'", p);
				p = name;
				break;
			}
			p = skip_ows(after + 1);
			if (*p == '=' || *p == ',' || !*p) {
				/* token68 ("Negotiate abc=="): no parameters to keep */
				while (*p == '=')
					p++;
				p = skip_list_sep(p);
				continue;
			}
			if (parse_value(&p, &value, err) < 0)
				return -1;
			if (nlen == 5 && strncasecmp(name, "realm", 5) == 0)
				slot = &c->realm;
			else if (nlen == 7 && strncasecmp(name, "service", 7) == 0)
				slot = &c->service;
			else if (nlen == 5 && strncasecmp(name, "scope", 5) == 0)
				slot = &c->scope;
			else if (nlen == 5 && strncasecmp(name, "error", 5) == 0)
				slot = &c->error;
			if (slot) {
				free(*slot);
				*slot = value;
			} else {
				free(value);
			}
			p = skip_ows(p);
			if (*p && *p != ',')
				return sb_error_setx(err, EINVAL, "WWW-Authenticate: expected ',' at '%.20s'", p);
			p = skip_list_sep(p);
		}
	}
	return 0;
}

void sb_auth_challenge_release(struct sb_auth_challenge *c)
{
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *s)
{
	return s ? sb_xstrdup(s) : NULL;
}

void sb_auth_challenge_copy(struct sb_auth_challenge *dst, const struct sb_auth_challenge *src)
{
	dst->scheme = dup_or_null(src->scheme);
	dst->realm = dup_or_null(src->realm);
	dst->service = dup_or_null(src->service);
	dst->scope = dup_or_null(src->scope);
	dst->error = dup_or_null(src->error);
}

void sb_auth_challenges_release(struct sb_auth_challenges *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		sb_auth_challenge_release(&cs->v[i]);
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

const struct sb_auth_challenge *sb_auth_pick(const struct sb_auth_challenges *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		if (strcmp(cs->v[i].scheme, "bearer") == 0 && cs->v[i].realm)
			return &cs->v[i];
	for (size_t i = 0; i < cs->n; i++)
		if (strcmp(cs->v[i].scheme, "basic") == 0)
			return &cs->v[i];
	return NULL;
}

/* ---- docker config ---- */

void sb_credentials_release(struct sb_credentials *c)
{
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->username);
	free(c->password);
	c->username = c->password = NULL;
}

char *sb_docker_config_dir(const char *dir)
{
	const char *env;

	if (dir && *dir)
		return sb_xstrdup(dir);
	env = getenv("DOCKER_CONFIG");
	if (env && *env)
		return sb_xstrdup(env);
	env = getenv("HOME");
	if (env && *env)
		return sb_xasprintf("%s/.docker", env);
	return NULL;
}

/* Docker's ConvertToHostname: drop "http://" or "https://" and anything
 * from the first '/'. */
static char *key_hostname(const char *key)
{
	const char *slash;

	if (strncmp(key, "http://", 7) == 0)
		key += 7;
	else if (strncmp(key, "https://", 8) == 0)
		key += 8;
	slash = strchr(key, '/');
	return slash ? sb_xstrndup(key, (size_t)(slash - key)) : sb_xstrdup(key);
}

static bool is_docker_hub(const char *host)
{
	return strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0 ||
	       strcmp(host, "registry-1.docker.io") == 0;
}

static bool key_matches(const char *key, const char *domain)
{
	sb_autofree char *host = key_hostname(key);

	if (strcmp(host, domain) == 0)
		return true;
	return is_docker_hub(domain) && is_docker_hub(host);
}

static int decode_auth(const char *b64, struct sb_credentials *out)
{
	size_t n = strlen(b64), pad = 0;
	sb_autofree unsigned char *buf = NULL;
	int dec;
	char *colon;

	/* EVP_DecodeBlock wants whole quanta and counts padding as output */
	if (n == 0 || n % 4 != 0 || n > SB_REG_CONFIG_MAX)
		return -1;
	buf = sb_xmalloc(n / 4 * 3 + 1);
	dec = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (dec < 0)
		return -1;
	if (b64[n - 1] == '=')
		pad++;
	if (b64[n - 2] == '=')
		pad++;
	if ((size_t)dec < pad)
		return -1;
	dec -= (int)pad;
	buf[dec] = '\0';
	if (memchr(buf, '\0', (size_t)dec))
		return -1;
	colon = strchr((char *)buf, ':');
	if (!colon)
		return -1;
	out->username = sb_xstrndup((char *)buf, (size_t)(colon - (char *)buf));
	out->password = sb_xstrdup(colon + 1);
	explicit_bzero(buf, (size_t)dec);
	return 0;
}

static int entry_credentials(json_t *entry, const char *path, const char *key, struct sb_credentials *out,
			     struct sb_error **err)
{
	json_t *auth, *user, *pass;

	if (!json_is_object(entry))
		return sb_error_setx(err, EINVAL, "%s: auths.\"%s\" is not an object", path, key);
	auth = json_object_get(entry, "auth");
	if (json_is_string(auth) && json_string_length(auth) > 0) {
		if (decode_auth(json_string_value(auth), out) < 0)
			return sb_error_setx(err, EINVAL,
					     "%s: auths.\"%s\".auth is not base64 of \"user:password\"", path, key);
		return 0;
	}
	user = json_object_get(entry, "username");
	pass = json_object_get(entry, "password");
	if (json_is_string(user) && json_is_string(pass)) {
		out->username = sb_xstrdup(json_string_value(user));
		out->password = sb_xstrdup(json_string_value(pass));
	}
	/* An entry with only an identitytoken (an OAuth refresh token) or
	 * nothing at all gives no credentials; the registry's 401 will say
	 * so. */
	return 0;
}

int sb_docker_config_lookup(const char *dir, const char *domain, struct sb_credentials *out,
			    struct sb_error **err)
{
	sb_autofree char *path = NULL;
	struct sb_strbuf data = SB_STRBUF_INIT;
	json_t *root, *auths, *entry;
	json_error_t jerr;
	const char *key;
	const char *found = NULL;
	int rc = 0;

	out->username = out->password = NULL;
	if (!dir)
		return 0;
	path = sb_xasprintf("%s/config.json", dir);
	{
		struct sb_error *rerr = NULL;
		if (sb_read_file(AT_FDCWD, path, SB_REG_CONFIG_MAX, &data, &rerr) < 0) {
			if (rerr->code == ENOENT || rerr->code == ENOTDIR) {
				sb_error_free(rerr);
				return 0;
			}
			*err = rerr;
			return -1;
		}
	}
	root = json_loadb(data.buf, data.len, 0, &jerr);
	explicit_bzero(data.buf, data.len);
	sb_strbuf_release(&data);
	if (!root)
		return sb_error_setx(err, EINVAL, "%s:%d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return sb_error_setx(err, EINVAL, "%s: not a JSON object", path);
	}
	auths = json_object_get(root, "auths");
	if (auths && !json_is_object(auths)) {
		json_decref(root);
		return sb_error_setx(err, EINVAL, "%s: \"auths\" is not an object", path);
	}
	/* an exact key first, then one naming the same host */
	if (auths && json_object_get(auths, domain))
		found = domain;
	if (!found && auths) {
		json_object_foreach(auths, key, entry) {
			if (key_matches(key, domain)) {
				found = key;
				break;
			}
		}
	}
	if (found)
		rc = entry_credentials(json_object_get(auths, found), path, found, out, err);
	json_decref(root);
	return rc;
}

bool sb_reg_host_is_loopback(const char *host)
{
	char buf[256];
	const char *h = host, *end;
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;

	if (*h == '[') {
		end = strchr(h, ']');
		if (!end)
			return false;
		h++;
	} else {
		const char *colon = strchr(h, ':');
		/* one colon: host:port; more: a bare IPv6 address */
		end = colon && !strchr(colon + 1, ':') ? colon : h + strlen(h);
	}
	n = (size_t)(end - h);
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (strcasecmp(buf, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, buf, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* ---- the client side ---- */

static char *basic_header(const struct sb_credentials *cr)
{
	sb_autofree char *plain = sb_xasprintf("%s:%s", cr->username, cr->password);
	size_t n = strlen(plain), enc_len;
	char *out;

	/* 4 output bytes per 3 input bytes, plus NUL */
	if (!sb_add_ok(n, 2, &enc_len) || !sb_mul_ok(enc_len / 3, 4, &enc_len) || !sb_add_ok(enc_len, 1, &enc_len))
		abort();
	out = sb_xmalloc(enc_len + 6);
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)n);
	explicit_bzero(plain, n);
	return out;
}

static const char *scope_key(const char *scope)
{
	return scope ? scope : "";
}

/* Under c->lock. */
static struct sb_reg_token *token_find(struct sb_reg_client *c, const char *scope)
{
	for (size_t i = 0; i < c->ntokens; i++)
		if (strcmp(c->tokens[i].scope, scope_key(scope)) == 0)
			return &c->tokens[i];
	return NULL;
}

static void token_store(struct sb_reg_client *c, const char *scope, const char *token)
{
	struct sb_reg_token *t;

	pthread_mutex_lock(&c->lock);
	t = token_find(c, scope);
	if (!t) {
		c->tokens = sb_xgrow(c->tokens, &c->atokens, c->ntokens + 1, sizeof(*c->tokens));
		t = &c->tokens[c->ntokens++];
		t->scope = sb_xstrdup(scope_key(scope));
		t->token = NULL;
	}
	free(t->token);
	t->token = sb_xstrdup(token);
	pthread_mutex_unlock(&c->lock);
}

static void token_drop(struct sb_reg_client *c, const char *scope)
{
	struct sb_reg_token *t;

	pthread_mutex_lock(&c->lock);
	t = token_find(c, scope);
	if (t) {
		free(t->scope);
		free(t->token);
		*t = c->tokens[--c->ntokens];
	}
	pthread_mutex_unlock(&c->lock);
}

/* Add each space-separated scope of list to url as a scope= parameter,
 * skipping ones already added. */
static char *add_scopes(char *url, const char *list, struct sb_strbuf *seen)
{
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n) {
			sb_autofree char *one = sb_xstrndup(p, n);
			sb_autofree char *marked = sb_xasprintf("\n%s\n", one);
			if (!strstr(seen->buf, marked)) {
				char *next = sb_reg_url_add_query(url, "scope", one);
				free(url);
				url = next;
				sb_strbuf_adds(seen, marked);
			}
		}
		p = e ? e + 1 : NULL;
	}
	return url;
}

/* GET the token endpoint named by a Bearer challenge for scope. */
static int fetch_token(struct sb_reg_client *c, CURL *curl, const struct sb_auth_challenge *ch, const char *scope,
		       char **out, struct sb_error **err)
{
	struct sb_reg_request req = { 0 };
	struct sb_reg_response resp;
	struct sb_strbuf seen = SB_STRBUF_INIT;
	char *url;
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	bool send_creds = false;
	json_t *root = NULL, *tok;
	json_error_t jerr;
	int rc = -1;

	if (strncmp(ch->realm, "https://", 8) != 0 && strncmp(ch->realm, "http://", 7) != 0)
		return sb_error_setx(err, EPROTO, "%s: token realm \"%s\" is not an http(s) URL", c->image,
				     ch->realm);
	url = sb_xstrdup(ch->realm);
	if (ch->service) {
		char *next = sb_reg_url_add_query(url, "service", ch->service);
		free(url);
		url = next;
	}
	url = add_scopes(url, ch->scope, &seen);
	url = add_scopes(url, scope, &seen);
	sb_strbuf_release(&seen);

	/* Credentials go to the realm only over TLS or to a loopback host:
	 * a registry may name any realm, and a plain-HTTP one elsewhere
	 * would put the password on the wire. */
	u = curl_url();
	if (u && curl_url_set(u, CURLUPART_URL, ch->realm, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		send_creds = c->creds.username &&
			     (strcmp(scheme, "https") == 0 || sb_reg_host_is_loopback(host));
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);

	req.method = "GET";
	req.url = url;
	req.what = "token";
	req.fd = -1;
	req.no_auth = true;
	req.basic = send_creds ? &c->creds : NULL;
	sb_reg_response_init(&resp);
	if (sb_reg_do(c, curl, &req, &resp, err) < 0)
		goto out;
	if (resp.status != 200) {
		sb_reg_status_error(c, "token", &resp, err);
		goto out;
	}
	root = json_loadb(resp.body.buf, resp.body.len, 0, &jerr);
	tok = root ? json_object_get(root, "token") : NULL;
	if (!json_is_string(tok) || json_string_length(tok) == 0)
		tok = root ? json_object_get(root, "access_token") : NULL;
	if (!json_is_string(tok) || json_string_length(tok) == 0) {
		sb_error_setx(err, EPROTO, "%s: token endpoint %s answered without a token", c->image, ch->realm);
		goto out;
	}
	*out = sb_xstrdup(json_string_value(tok));
	rc = 0;
out:
	json_decref(root);
	sb_reg_response_release(&resp);
	free(url);
	return rc;
}

int sb_reg_auth_header(struct sb_reg_client *c, CURL *curl, const char *scope, char **out, struct sb_error **err)
{
	struct sb_reg_token *t;
	struct sb_auth_challenge ch = { 0 };
	char *token = NULL;
	bool bearer, basic;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	t = token_find(c, scope);
	if (t) {
		*out = sb_xasprintf("Bearer %s", t->token);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	bearer = c->have_challenge && strcmp(c->challenge.scheme, "bearer") == 0;
	basic = c->have_challenge && strcmp(c->challenge.scheme, "basic") == 0;
	if (bearer)
		sb_auth_challenge_copy(&ch, &c->challenge);
	pthread_mutex_unlock(&c->lock);

	if (basic && c->creds.username) {
		*out = basic_header(&c->creds);
		return 0;
	}
	if (!bearer)
		return 0;
	/* The challenge came from another request (the ping, or another
	 * scope): its scope is not this one's. */
	free(ch.scope);
	ch.scope = NULL;
	if (fetch_token(c, curl, &ch, scope, &token, err) < 0) {
		sb_auth_challenge_release(&ch);
		return -1;
	}
	sb_auth_challenge_release(&ch);
	token_store(c, scope, token);
	*out = sb_xasprintf("Bearer %s", token);
	explicit_bzero(token, strlen(token));
	free(token);
	return 0;
}

int sb_reg_auth_challenged(struct sb_reg_client *c, CURL *curl, const char *scope,
			   const struct sb_reg_response *resp, struct sb_error **err)
{
	const struct sb_auth_challenge *pick = sb_auth_pick(&resp->challenges);
	char *token = NULL;

	if (!pick)
		return 0;
	pthread_mutex_lock(&c->lock);
	sb_auth_challenge_release(&c->challenge);
	sb_auth_challenge_copy(&c->challenge, pick);
	c->have_challenge = true;
	pthread_mutex_unlock(&c->lock);
	token_drop(c, scope);

	if (strcmp(pick->scheme, "basic") == 0)
		return c->creds.username ? 1 : 0;
	if (fetch_token(c, curl, pick, scope, &token, err) < 0)
		return -1;
	token_store(c, scope, token);
	explicit_bzero(token, strlen(token));
	free(token);
	return 1;
}
