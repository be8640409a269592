/* libFuzzer target: the ELF reader and the ld.so.cache reader on hostile
 * bytes, and the closure over a scratch rootfs holding the input as /x
 * (also as /etc/ld.so.cache), so that hostile RPATH, RUNPATH, DT_NEEDED
 * and PT_INTERP strings reach the search. Any input must parse or fail
 * with an error; neither may crash, leak or read out of bounds. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int scratch = -1;

/* Without the fsync of sb_write_file_atomic: a scratch file needs no
 * durability, and the fuzzer wants speed. */
static void put(const char *name, const uint8_t *data, size_t size)
{
	int fd = openat(scratch, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0 || sb_write_all(fd, data, size, name, NULL) < 0)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_error *err = NULL;
	struct sb_elf_info info;
	struct sb_ldcache cache;
	struct sb_elf_closure c;
	const char *x = "/x";

	if (sb_elf_parse(data, size, &info, &err) < 0) {
		if (!err)
			abort(); /* failure must say why */
		sb_error_free(err);
		err = NULL;
	} else {
		sb_elf_info_release(&info);
	}
	if (sb_ldcache_parse(data, size, &cache, &err) < 0) {
		sb_error_free(err);
		err = NULL;
	} else {
		sb_ldcache_release(&cache);
	}

	if (scratch < 0) {
		char dir[] = "/tmp/fuzz_elf.XXXXXX";
		if (!mkdtemp(dir))
			abort();
		scratch = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (scratch < 0 || sb_mkdir_p(scratch, "etc", 0755, NULL) < 0)
			abort();
	}
	put("x", data, size);
	put("etc/ld.so.cache", data, size);
	if (sb_elf_closure(scratch, &x, 1, NULL, &c, &err) < 0) {
		sb_error_free(err);
	} else {
		sb_elf_closure_release(&c);
	}
	return 0;
}
