/* libcurl, loaded on first use. Linking libcurl costs every slimbuild run
 * about 4.5 ms before main(): its dependencies (gnutls through librtmp,
 * kerberos, ldap, p11-kit) run constructors at load time, and most runs
 * (a cached rebuild, `images`, `parse`) never speak HTTP. These are the
 * libcurl entry points slimbuild uses, each resolving the real one from
 * libcurl.so.4 with dlopen the first time any is called; a missing
 * libcurl is fatal like out-of-memory (it is a package dependency).
 *
 * curl_easy_setopt() and curl_easy_getinfo() are variadic: the value is
 * forwarded by the option's type class (long, curl_off_t, or a pointer),
 * as curl.h numbers them. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>

#include "runtime/core/common.h"

static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free_)(void *);
	time_t (*getdate)(const char *, const time_t *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *);
	CURLUcode (*url_get)(CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);
	if (!p) {
		fprintf(stderr, "slimbuild: libcurl.so.4 lacks %s\n", name);
		abort();
	}
	return p;
}

static void load(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "slimbuild: cannot load libcurl (apt-get install libcurl4): %s\n", dlerror());
		abort();
	}
	*(void **)&fn.global_init = sym(h, "curl_global_init");
	*(void **)&fn.easy_init = sym(h, "curl_easy_init");
	*(void **)&fn.easy_cleanup = sym(h, "curl_easy_cleanup");
	*(void **)&fn.easy_reset = sym(h, "curl_easy_reset");
	*(void **)&fn.easy_perform = sym(h, "curl_easy_perform");
	*(void **)&fn.easy_setopt = sym(h, "curl_easy_setopt");
	*(void **)&fn.easy_getinfo = sym(h, "curl_easy_getinfo");
	*(void **)&fn.easy_strerror = sym(h, "curl_easy_strerror");
	*(void **)&fn.easy_escape = sym(h, "curl_easy_escape");
	*(void **)&fn.free_ = sym(h, "curl_free");
	*(void **)&fn.getdate = sym(h, "curl_getdate");
	*(void **)&fn.slist_append = sym(h, "curl_slist_append");
	*(void **)&fn.slist_free_all = sym(h, "curl_slist_free_all");
	*(void **)&fn.url = sym(h, "curl_url");
	*(void **)&fn.url_cleanup = sym(h, "curl_url_cleanup");
	*(void **)&fn.url_get = sym(h, "curl_url_get");
	*(void **)&fn.url_set = sym(h, "curl_url_set");
}

#define LOAD() pthread_once(&once, load)

CURLcode curl_global_init(long flags)
{
	LOAD();
	return fn.global_init(flags);
}

CURL *curl_easy_init(void)
{
	LOAD();
	return fn.easy_init();
}

void curl_easy_cleanup(CURL *c)
{
	LOAD();
	fn.easy_cleanup(c);
}

void curl_easy_reset(CURL *c)
{
	LOAD();
	fn.easy_reset(c);
}

CURLcode curl_easy_perform(CURL *c)
{
	LOAD();
	return fn.easy_perform(c);
}

CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	LOAD();
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = fn.easy_setopt(c, opt, va_arg(ap, long));
	else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
		rc = fn.easy_setopt(c, opt, va_arg(ap, curl_off_t));
	else
		rc = fn.easy_setopt(c, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	LOAD();
	va_start(ap, info);
	rc = fn.easy_getinfo(c, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

const char *curl_easy_strerror(CURLcode code)
{
	LOAD();
	return fn.easy_strerror(code);
}

char *curl_easy_escape(CURL *c, const char *s, int len)
{
	LOAD();
	return fn.easy_escape(c, s, len);
}

void curl_free(void *p)
{
	LOAD();
	fn.free_(p);
}

time_t curl_getdate(const char *s, const time_t *unused)
{
	LOAD();
	return fn.getdate(s, unused);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	LOAD();
	return fn.slist_append(l, s);
}

void curl_slist_free_all(struct curl_slist *l)
{
	LOAD();
	fn.slist_free_all(l);
}

CURLU *curl_url(void)
{
	LOAD();
	return fn.url();
}

void curl_url_cleanup(CURLU *u)
{
	LOAD();
	fn.url_cleanup(u);
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	LOAD();
	return fn.url_get(u, what, part, flags);
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	LOAD();
	return fn.url_set(u, what, part, flags);
}
