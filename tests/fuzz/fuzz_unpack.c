/* libFuzzer target: unpack the input as a layer (gzip, zstd or plain tar)
 * into a fresh scratch rootfs. Any input must unpack or fail with an error;
 * neither may crash, leak, or put anything outside the rootfs: the scratch
 * directory holds the rootfs and an empty canary next to it, and both must
 * look the same afterwards. Devices are refused and owners left alone, so
 * the target behaves the same as root or not.
 *
 * Random bytes rarely make a tar whose header checksums hold, so an input
 * starting with "#S\n" is a script instead, built into tars with
 * libarchive's writer and applied as successive layers: that is how the
 * fuzzer reaches names, symlinks, hard links and whiteouts. One entry per
 * line, "TYPE NAME" or "TYPE NAME\tTARGET", TYPE one of f (file), d (dir),
 * l (symlink), h (hard link), p (fifo), c (char device); "---" starts the
 * next layer. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/layer/layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;
	if (!d)
		abort();
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static la_ssize_t tar_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	(void)a;
	sb_strbuf_add(ctx, buf, len);
	return (la_ssize_t)len;
}

/* Build the layers of a script; returns how many (at most max). */
static size_t script_layers(const char *s, size_t n, struct sb_strbuf *layers, size_t max)
{
	const char *end = s + n;
	size_t nl = 0;
	struct archive *a = NULL;
	struct archive_entry *e = archive_entry_new();

	while (s < end && nl < max) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		size_t len = eol ? (size_t)(eol - s) : (size_t)(end - s);
		char line[512], *name, *target;

		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, s, len);
		line[len] = 0;
		s = eol ? eol + 1 : end;
		if (!a) {
			a = archive_write_new();
			archive_write_set_format_pax_restricted(a);
			archive_write_set_bytes_in_last_block(a, 1);
			archive_write_open(a, &layers[nl], NULL, tar_write, NULL);
		}
		if (!strcmp(line, "---")) {
			archive_write_close(a);
			archive_write_free(a);
			a = NULL;
			nl++;
			continue;
		}
		if (len < 3 || line[1] != ' ')
			continue;
		name = line + 2;
		target = strchr(name, '\t');
		if (target)
			*target++ = 0;
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, name);
		archive_entry_set_mtime(e, 1000, 0);
		switch (line[0]) {
		case 'f':
			archive_entry_set_mode(e, AE_IFREG | 0644);
			archive_entry_set_size(e, (la_int64_t)strlen(name));
			break;
		case 'd':
			archive_entry_set_mode(e, AE_IFDIR | 0755);
			break;
		case 'l':
			archive_entry_set_mode(e, AE_IFLNK | 0777);
			archive_entry_copy_symlink(e, target ? target : "");
			break;
		case 'h':
			archive_entry_set_mode(e, AE_IFREG | 0644);
			archive_entry_copy_hardlink(e, target ? target : "");
			break;
		case 'p':
			archive_entry_set_mode(e, AE_IFIFO | 0644);
			break;
		case 'c':
			archive_entry_set_mode(e, AE_IFCHR | 0644);
			archive_entry_set_rdevmajor(e, 1);
			archive_entry_set_rdevminor(e, 3);
			break;
		default:
			continue;
		}
		if (archive_write_header(a, e) < ARCHIVE_WARN)
			continue;
		if (line[0] == 'f')
			archive_write_data(a, name, strlen(name));
	}
	if (a) {
		archive_write_close(a);
		archive_write_free(a);
		nl++;
	}
	archive_entry_free(e);
	return nl;
}

static void unpack_one(const void *data, size_t size, const char *root)
{
	struct sb_layer_unpack_opts o;
	struct sb_error *err = NULL;
	int fd, r;

	fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || sb_write_all(fd, data, size, "memfd", NULL) < 0 || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	sb_layer_unpack_opts_init(&o);
	o.allow_devices = false;
	o.same_owner = false;
	o.max_bytes = 64u << 20;
	r = sb_layer_unpack(fd, root, &o, NULL, &err);
	close(fd);
	if (r < 0) {
		if (!err || !err->msg || !*err->msg)
			abort();
		sb_error_free(err);
	} else if (err) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char base[256], root[300], canary[300];
	struct sb_error *err = NULL;

	/* TMPDIR=/dev/shm makes a run several times faster. */
	snprintf(base, sizeof(base), "%s/sbfuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base))
		abort();
	snprintf(root, sizeof(root), "%s/rootfs", base);
	snprintf(canary, sizeof(canary), "%s/canary", base);
	if (mkdir(root, 0755) < 0 || mkdir(canary, 0755) < 0)
		abort();
	if (size >= 3 && !memcmp(data, "#S\n", 3)) {
		struct sb_strbuf layers[4];
		size_t n;
		for (size_t i = 0; i < 4; i++)
			sb_strbuf_init(&layers[i], 0);
		n = script_layers((const char *)data + 3, size - 3, layers, 4);
		for (size_t i = 0; i < n; i++)
			unpack_one(layers[i].buf, layers[i].len, root);
		for (size_t i = 0; i < 4; i++)
			sb_strbuf_release(&layers[i]);
	} else {
		unpack_one(data, size, root);
	}
	if (entries(canary) != 0 || entries(base) != 2)
		abort();
	/* A layer may leave directories without write permission; rm -rf
	 * as root does not care, so make sure this can run unprivileged. */
	if (sb_rm_rf(AT_FDCWD, base, &err) < 0) {
		char cmd[700];
		sb_error_free(err);
		snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s && rm -rf %s", base, base);
		if (system(cmd) != 0)
			abort();
	}
	return 0;
}
