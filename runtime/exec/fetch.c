/* ADD <url>: one download with libcurl into an unlinked temporary file,
 * hashed on the way, so that a --checksum mismatch leaves nothing behind
 * and the copy reads a file like any other source. */
#include <fcntl.h>
#include <pthread.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <curl/curl.h>

#include "runtime/core/fs.h"
#include "runtime/exec/match.h"

/* A download past this is refused (BuildKit has no bound; a build
 * context-sized cap keeps a runaway server from filling the disk). */
#define FETCH_MAX (64ull << 30)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool sb_is_url(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

bool sb_is_git_url(const char *s)
{
	const char *hash = strchr(s, '#');
	size_t n = hash ? (size_t)(hash - s) : strlen(s);
	if (!strncmp(s, "git://", 6) || !strncmp(s, "git@", 4) || !strncmp(s, "ssh://", 6))
		return true;
	/* BuildKit's gitutil: an http(s) URL whose path ends in .git. */
	return sb_is_url(s) && n > 4 && !strncmp(s + n - 4, ".git", 4);
}

char *sb_url_file_name(const char *url)
{
	const char *p = strstr(url, "://");
	const char *end, *slash;
	size_t n;

	p = p ? p + 3 : url;
	p += strcspn(p, "/?#");  /* skip the host */
	n = strcspn(p, "?#");    /* the path */
	end = p + n;
	while (end > p && end[-1] == '/')
		end--;
	if (end == p)
		return sb_xstrdup("__unnamed__");
	for (slash = end; slash > p && slash[-1] != '/'; slash--)
		;
	if ((end - slash == 1 && *slash == '.') || (end - slash == 2 && !strncmp(slash, "..", 2)))
		return sb_xstrdup("__unnamed__");
	return sb_xstrndup(slash, (size_t)(end - slash));
}

struct fetch {
	int fd;
	struct sb_sha256 hash;
	uint64_t size;
	struct sb_error *err;
};

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct fetch *f = ud;
	size_t n;
	if (!sb_mul_ok(size, nmemb, &n))
		return 0;
	if (f->size + n > FETCH_MAX) {
		sb_error_setx(&f->err, EFBIG, "download larger than %llu bytes", (unsigned long long)FETCH_MAX);
		return 0;
	}
	if (sb_write_all(f->fd, data, n, "download", &f->err) < 0)
		return 0;
	sb_sha256_update(&f->hash, data, n);
	f->size += n;
	return n;
}

static int tmpfile_fd(struct sb_error **err)
{
	const char *dir = getenv("TMPDIR");
	int fd = open(dir && *dir ? dir : "/var/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = memfd_create("sb-add-url", MFD_CLOEXEC);
	if (fd < 0)
		return sb_error_set(err, errno, "create a temporary file");
	return fd;
}

int sb_fetch_url(const char *url, const char *checksum, const struct sb_progress *progress,
		 struct sb_fetch_result *out, struct sb_error **err)
{
	struct fetch f = { .fd = -1 };
	CURL *curl = NULL;
	CURLcode rc;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	curl_off_t filetime = -1;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->mtime = -1;
	if (checksum && !sb_digest_valid(checksum))
		return sb_error_setx(err, EINVAL, "invalid checksum %s: only sha256:<hex> is supported", checksum);
	pthread_once(&curl_once, curl_init);
	if (curl_rc != CURLE_OK)
		return sb_error_setx(err, EIO, "libcurl initialisation failed");
	f.fd = tmpfile_fd(err);
	if (f.fd < 0)
		return -1;
	sb_sha256_init(&f.hash);
	curl = curl_easy_init();
	if (!curl)
		abort(); /* only out of memory */
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(curl, CURLOPT_FILETIME, 1L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "slimbuild/" SB_VERSION);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f);
	sb_progress_emit(progress, SB_PROGRESS_START, url, "download", 0, 0, NULL);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		if (f.err) {
			*err = f.err;
			f.err = NULL;
			sb_error_wrap(err, "download %s", url);
		} else {
			sb_error_setx(err, EIO, "download %s: %s", url, *errbuf ? errbuf : curl_easy_strerror(rc));
		}
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		sb_error_setx(err, EIO, "download %s: invalid response status %ld", url, status);
		goto out;
	}
	if (curl_easy_getinfo(curl, CURLINFO_FILETIME_T, &filetime) == CURLE_OK && filetime >= 0)
		out->mtime = (int64_t)filetime;
	sb_sha256_final(&f.hash, out->digest);
	f.hash.md = NULL;
	if (checksum && strcmp(checksum, out->digest)) {
		sb_error_setx(err, EINVAL, "digest mismatch for %s: expected %s, got %s", url, checksum, out->digest);
		goto out;
	}
	if (lseek(f.fd, 0, SEEK_SET) < 0) {
		sb_error_set(err, errno, "seek");
		goto out;
	}
	out->size = f.size;
	out->fd = f.fd;
	f.fd = -1;
	sb_progress_emit(progress, SB_PROGRESS_DONE, url, "download", f.size, f.size, NULL);
	ret = 0;
out:
	if (f.hash.md)
		sb_sha256_release(&f.hash);
	sb_error_free(f.err);
	if (f.fd >= 0)
		close(f.fd);
	curl_easy_cleanup(curl);
	return ret;
}
