/* Image references with Docker's grammar (distribution/reference) and its
 * normalisation: a first component that is not a registry host means
 * docker.io, a single-component docker.io name is under library/. */
#include "runtime/store/reference.h"

#define REF_NAME_MAX 255

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* path-component: [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)* */
static bool valid_component(const char *s, size_t n, bool *upper)
{
	size_t i = 0;
	for (size_t k = 0; k < n; k++)
		if (s[k] >= 'A' && s[k] <= 'Z')
			*upper = true;
	if (n == 0 || !is_lower_alnum(s[0]))
		return false;
	while (i < n) {
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == n)
			return true;
		/* separator */
		if (s[i] == '.' || (s[i] == '_' && !(i + 1 < n && s[i + 1] == '_'))) {
			i++;
		} else if (s[i] == '_') {
			i += 2;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= n || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

/* domain: host[:port], host is dotted labels of [a-zA-Z0-9-] or [ipv6]. */
static bool valid_domain(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0)
		return false;
	if (s[0] == '[') {
		while (i < n && s[i] != ']') {
			if (!(is_alnum(s[i]) || s[i] == ':' || s[i] == '[' || s[i] == '.'))
				return false;
			i++;
		}
		if (i == n)
			return false;
		i++;
	} else {
		for (;;) {
			size_t start = i;
			while (i < n && (is_alnum(s[i]) || s[i] == '-'))
				i++;
			if (i == start || s[start] == '-' || s[i - 1] == '-')
				return false;
			if (i < n && s[i] == '.') {
				i++;
				continue;
			}
			break;
		}
	}
	if (i < n && s[i] == ':') {
		size_t start = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	return i == n;
}

/* tag: [\w][\w.-]{0,127} */
static bool valid_tag(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || !(is_alnum(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

static int ref_error(struct sb_error **err, const char *s, const char *why)
{
	if (why)
		return sb_error_setx(err, EINVAL, "invalid reference format: %s: \"%s\"", why, s);
	return sb_error_setx(err, EINVAL, "invalid reference format: \"%s\"", s);
}

int sb_reference_parse(const char *s, struct sb_reference *ref, struct sb_error **err)
{
	sb_autofree char *name = NULL;
	const char *at, *slash, *colon, *first_end;
	bool upper = false;
	size_t namelen;

	memset(ref, 0, sizeof(*ref));
	if (!s || !*s)
		return ref_error(err, s ? s : "", "repository name must have at least one component");
	at = strchr(s, '@');
	namelen = at ? (size_t)(at - s) : strlen(s);
	name = sb_xstrndup(s, namelen);
	if (at) {
		if (!sb_digest_valid(at + 1))
			return sb_error_setx(err, EINVAL, "invalid reference format: bad digest in \"%s\"", s);
		ref->digest = sb_xstrdup(at + 1);
	}
	slash = strrchr(name, '/');
	colon = strrchr(name, ':');
	if (colon && (!slash || colon > slash)) {
		*(char *)colon = '\0';
		if (!valid_tag(colon + 1)) {
			sb_reference_release(ref);
			return ref_error(err, s, NULL);
		}
		ref->tag = sb_xstrdup(colon + 1);
	}
	if (strlen(name) > REF_NAME_MAX) {
		sb_reference_release(ref);
		return ref_error(err, s, "repository name must not be more than 255 characters");
	}

	/* the first component is a registry when it looks like a host */
	first_end = strchr(name, '/');
	if (first_end) {
		size_t fl = (size_t)(first_end - name);
		bool hostish = memchr(name, '.', fl) || memchr(name, ':', fl) ||
			       (fl == 9 && memcmp(name, "localhost", 9) == 0) ||
			       (fl && name[0] == '[');
		bool has_upper = false;
		for (size_t i = 0; i < fl; i++)
			has_upper |= name[i] >= 'A' && name[i] <= 'Z';
		if (hostish || has_upper) {
			if (!valid_domain(name, fl)) {
				sb_reference_release(ref);
				return ref_error(err, s, NULL);
			}
			ref->domain = sb_xstrndup(name, fl);
			ref->path = sb_xstrdup(first_end + 1);
		}
	}
	if (!ref->domain) {
		ref->domain = sb_xstrdup("docker.io");
		ref->path = strchr(name, '/') ? sb_xstrdup(name) : sb_xasprintf("library/%s", name);
	}
	if (strcmp(ref->domain, "index.docker.io") == 0) {
		free(ref->domain);
		ref->domain = sb_xstrdup("docker.io");
	}
	/* validate path components */
	for (const char *p = ref->path;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (!valid_component(p, n, &upper)) {
			sb_reference_release(ref);
			return ref_error(err, s, upper ? "repository name must be lowercase" : NULL);
		}
		if (!e)
			break;
		p = e + 1;
	}
	if (!ref->tag && !ref->digest)
		ref->tag = sb_xstrdup("latest");
	return 0;
}

void sb_reference_release(struct sb_reference *ref)
{
	free(ref->domain);
	free(ref->path);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

char *sb_reference_name(const struct sb_reference *ref)
{
	return sb_xasprintf("%s/%s", ref->domain, ref->path);
}

char *sb_reference_string(const struct sb_reference *ref)
{
	return sb_xasprintf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
			    ref->tag ? ref->tag : "", ref->digest ? "@" : "", ref->digest ? ref->digest : "");
}

char *sb_reference_familiar(const struct sb_reference *ref)
{
	const char *path = ref->path;
	if (strcmp(ref->domain, "docker.io") == 0) {
		if (strncmp(path, "library/", 8) == 0 && !strchr(path + 8, '/'))
			path += 8;
		return sb_xasprintf("%s%s%s%s%s", path, ref->tag ? ":" : "", ref->tag ? ref->tag : "",
				    ref->digest ? "@" : "", ref->digest ? ref->digest : "");
	}
	return sb_reference_string(ref);
}

bool sb_reference_is_insecure(const struct sb_reference *ref)
{
	const char *d = ref->domain;
	size_t hl;
	const char *colon;

	if (d[0] == '[')
		return strncmp(d, "[::1]", 5) == 0;
	colon = strchr(d, ':');
	hl = colon ? (size_t)(colon - d) : strlen(d);
	if (hl == 9 && strncmp(d, "localhost", 9) == 0)
		return true;
	/* 127.0.0.0/8: four numeric labels, the first 127 */
	if (hl >= 7 && strncmp(d, "127.", 4) == 0) {
		int dots = 0;
		for (size_t i = 0; i < hl; i++) {
			if (d[i] == '.')
				dots++;
			else if (d[i] < '0' || d[i] > '9')
				return false;
		}
		return dots == 3;
	}
	return false;
}

const char *sb_reference_registry_host(const struct sb_reference *ref)
{
	if (strcmp(ref->domain, "docker.io") == 0)
		return "registry-1.docker.io";
	return ref->domain;
}
