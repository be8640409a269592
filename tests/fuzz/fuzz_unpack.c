/* libFuzzer target: unpack the input as a layer (gzip, zstd or plain tar)
 * into a fresh scratch rootfs. Any input must unpack or fail with an error;
 * neither may crash, leak, or put anything outside the rootfs: the scratch
 * directory holds the rootfs and an empty canary next to it, and both must
 * look the same afterwards. Devices are refused and owners left alone, so
 * the target behaves the same as root or not. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char base[256], root[300], canary[300];
	struct sb_layer_unpack_opts o;
	struct sb_error *err = NULL;
	int fd, r;

	/* TMPDIR=/dev/shm makes a run several times faster. */
	snprintf(base, sizeof(base), "%s/sbfuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base))
		abort();
	snprintf(root, sizeof(root), "%s/rootfs", base);
	snprintf(canary, sizeof(canary), "%s/canary", base);
	if (mkdir(root, 0755) < 0 || mkdir(canary, 0755) < 0)
		abort();
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
