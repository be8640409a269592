/* The ELF closure: a small reader of ELF program headers and the dynamic
 * section, glibc's ld.so.cache, and the loader's search order, applied to
 * files inside a rootfs without running anything. */
#include <elf.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/profile/internal.h"

/* More would be hostile rather than real: glibc itself has no limit, but
 * no real object needs a thousand libraries. */
#define MAX_NEEDED 4096
#define MAX_OBJECTS 100000

/* --- reading ELF --- */

struct rd {
	const unsigned char *d;
	size_t len;
};

static bool in_bounds(const struct rd *r, uint64_t off, uint64_t size)
{
	uint64_t end;
	return !__builtin_add_overflow(off, size, &end) && end <= r->len;
}

static uint64_t get(const struct rd *r, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	/* little-endian only: the caller checked EI_DATA */
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)r->d[off + i] << (8 * i);
	return v;
}

struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, filesz;
};

/* A NUL-terminated string at off within [base, base + size) of the file. */
static char *str_at(const struct rd *r, uint64_t base, uint64_t size, uint64_t off)
{
	const char *s, *nul;
	if (off >= size)
		return NULL;
	s = (const char *)r->d + base + off;
	nul = memchr(s, '\0', (size_t)(size - off));
	return nul ? sb_xstrndup(s, (size_t)(nul - s)) : NULL;
}

static int malformed(struct sb_error **err, const char *what)
{
	return sb_error_setx(err, EINVAL, "malformed ELF: %s", what);
}

void sb_elf_info_release(struct sb_elf_info *info)
{
	for (size_t i = 0; i < info->nneeded; i++)
		free(info->needed[i]);
	free(info->needed);
	free(info->interp);
	free(info->rpath);
	free(info->runpath);
	free(info->soname);
	memset(info, 0, sizeof(*info));
}

/* The file offset of virtual address v, through the PT_LOAD segment that
 * holds it in its file image. */
static bool vaddr_to_off(const struct phdr *ph, size_t n, uint64_t v, uint64_t *off, uint64_t *avail)
{
	for (size_t i = 0; i < n; i++) {
		if (ph[i].type != PT_LOAD || v < ph[i].vaddr || v - ph[i].vaddr >= ph[i].filesz)
			continue;
		*off = ph[i].offset + (v - ph[i].vaddr);
		*avail = ph[i].filesz - (v - ph[i].vaddr);
		return true;
	}
	return false;
}

static int parse_dynamic(const struct rd *r, bool is64, const struct phdr *ph, size_t nph, const struct phdr *dyn,
			 struct sb_elf_info *info, struct sb_error **err)
{
	unsigned w = is64 ? 8 : 4;
	uint64_t strtab = 0, strsz = 0, str_off, str_avail, rpath = 0, runpath = 0, soname = 0;
	bool have_strtab = false, have_strsz = false, have_rpath = false, have_runpath = false, have_soname = false;
	uint64_t *needed = NULL;
	size_t nneeded = 0, alloc = 0;
	int ret = -1;

	if (!in_bounds(r, dyn->offset, dyn->filesz)) {
		ret = malformed(err, "dynamic section out of the file");
		goto out;
	}
	for (uint64_t o = 0; o + 2 * w <= dyn->filesz; o += 2 * w) {
		uint64_t tag = get(r, dyn->offset + o, w), val = get(r, dyn->offset + o + w, w);
		if (tag == DT_NULL)
			break;
		switch (tag) {
		case DT_NEEDED:
			if (nneeded == MAX_NEEDED) {
				ret = malformed(err, "too many DT_NEEDED entries");
				goto out;
			}
			needed = sb_xgrow(needed, &alloc, nneeded + 1, sizeof(*needed));
			needed[nneeded++] = val;
			break;
		case DT_STRTAB:
			strtab = val, have_strtab = true;
			break;
		case DT_STRSZ:
			strsz = val, have_strsz = true;
			break;
		case DT_RPATH:
			rpath = val, have_rpath = true;
			break;
		case DT_RUNPATH:
			runpath = val, have_runpath = true;
			break;
		case DT_SONAME:
			soname = val, have_soname = true;
			break;
		}
	}
	if (!nneeded && !have_rpath && !have_runpath && !have_soname) {
		ret = 0;
		goto out;
	}
	if (!have_strtab || !vaddr_to_off(ph, nph, strtab, &str_off, &str_avail)) {
		ret = malformed(err, "no string table for the dynamic section");
		goto out;
	}
	if (have_strsz && strsz < str_avail)
		str_avail = strsz;
	if (!in_bounds(r, str_off, str_avail)) {
		ret = malformed(err, "string table out of the file");
		goto out;
	}
	info->needed = sb_xcalloc(nneeded ? nneeded : 1, sizeof(*info->needed));
	for (size_t i = 0; i < nneeded; i++) {
		info->needed[i] = str_at(r, str_off, str_avail, needed[i]);
		if (!info->needed[i]) {
			ret = malformed(err, "DT_NEEDED outside the string table");
			goto out;
		}
		info->nneeded++;
	}
	if ((have_rpath && !(info->rpath = str_at(r, str_off, str_avail, rpath))) ||
	    (have_runpath && !(info->runpath = str_at(r, str_off, str_avail, runpath))) ||
	    (have_soname && !(info->soname = str_at(r, str_off, str_avail, soname)))) {
		ret = malformed(err, "dynamic string outside the string table");
		goto out;
	}
	ret = 0;
out:
	free(needed);
	return ret;
}

int sb_elf_parse(const void *data, size_t len, struct sb_elf_info *info, struct sb_error **err)
{
	struct rd r = { data, len };
	struct phdr *ph = NULL;
	const struct phdr *dyn = NULL;
	uint64_t phoff;
	unsigned phentsize, phnum, want;
	bool is64;
	int ret = -1;

	memset(info, 0, sizeof(*info));
	if (len < SELFMAG || memcmp(data, ELFMAG, SELFMAG) != 0)
		return 0;
	if (len < EI_NIDENT)
		return malformed(err, "truncated identification");
	info->elf_class = r.d[EI_CLASS];
	if ((info->elf_class != ELFCLASS64 && info->elf_class != ELFCLASS32) || r.d[EI_DATA] != ELFDATA2LSB)
		return 1; /* no loader here would take it: nothing to follow */
	is64 = info->elf_class == ELFCLASS64;
	if (len < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return malformed(err, "truncated header");
	info->machine = (uint16_t)get(&r, 18, 2);
	phoff = is64 ? get(&r, 32, 8) : get(&r, 28, 4);
	phentsize = (unsigned)get(&r, is64 ? 54 : 42, 2);
	phnum = (unsigned)get(&r, is64 ? 56 : 44, 2);
	want = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (!phnum)
		return 1;
	if (phnum == PN_XNUM)
		return malformed(err, "extended program header count");
	if (phentsize < want || !in_bounds(&r, phoff, (uint64_t)phentsize * phnum))
		return malformed(err, "program headers out of the file");
	ph = sb_xcalloc(phnum, sizeof(*ph));
	for (unsigned i = 0; i < phnum; i++) {
		uint64_t o = phoff + (uint64_t)i * phentsize;
		ph[i].type = (uint32_t)get(&r, o, 4);
		ph[i].offset = is64 ? get(&r, o + 8, 8) : get(&r, o + 4, 4);
		ph[i].vaddr = is64 ? get(&r, o + 16, 8) : get(&r, o + 8, 4);
		ph[i].filesz = is64 ? get(&r, o + 32, 8) : get(&r, o + 16, 4);
		if (ph[i].type == PT_LOAD && !in_bounds(&r, ph[i].offset, ph[i].filesz)) {
			malformed(err, "segment out of the file");
			goto out;
		}
		if (ph[i].type == PT_INTERP && !info->interp) {
			if (!in_bounds(&r, ph[i].offset, ph[i].filesz) ||
			    !(info->interp = str_at(&r, ph[i].offset, ph[i].filesz, 0))) {
				malformed(err, "PT_INTERP out of the file or unterminated");
				goto out;
			}
		}
		if (ph[i].type == PT_DYNAMIC && !dyn)
			dyn = &ph[i];
	}
	if (dyn && parse_dynamic(&r, is64, ph, phnum, dyn, info, err) < 0)
		goto out;
	ret = 1;
out:
	free(ph);
	if (ret < 0)
		sb_elf_info_release(info);
	return ret;
}

/* --- ld.so.cache --- */

#define CACHE_OLD "ld.so-1.7.0"
#define CACHE_NEW "glibc-ld.so.cache1.1"
#define FLAG_TYPE_MASK 0x00ff
#define FLAG_ELF_LIBC6 0x0003
#define FLAG_REQUIRED_MASK 0xff00
#if defined(__x86_64__)
#define FLAG_NATIVE 0x0300 /* FLAG_X8664_LIB64 */
#elif defined(__aarch64__)
#define FLAG_NATIVE 0x0a00 /* FLAG_AARCH64_LIB64 */
#endif

void sb_ldcache_release(struct sb_ldcache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].path);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

int sb_ldcache_parse(const void *data, size_t len, struct sb_ldcache *out, struct sb_error **err)
{
	struct rd r = { data, len };
	uint64_t base = 0, nlibs;
	size_t alloc = 0;

	memset(out, 0, sizeof(*out));
	if (len >= sizeof(CACHE_OLD) - 1 && memcmp(data, CACHE_OLD, sizeof(CACHE_OLD) - 1) == 0) {
		/* the old format first: its header (12 + 4 bytes) and 12-byte
		 * entries, then the new format aligned to 8 */
		if (len < 16)
			return sb_error_setx(err, EINVAL, "ld.so.cache: truncated");
		base = 16 + get(&r, 12, 4) * 12;
		base = (base + 7) & ~(uint64_t)7;
		if (base > len)
			return sb_error_setx(err, EINVAL, "ld.so.cache: truncated");
	}
	if (!in_bounds(&r, base, 48) || memcmp(r.d + base, CACHE_NEW, sizeof(CACHE_NEW) - 1) != 0)
		return sb_error_setx(err, EINVAL, "ld.so.cache: not in glibc's new format");
	nlibs = get(&r, base + 20, 4);
	if (!in_bounds(&r, base + 48, nlibs * 24))
		return sb_error_setx(err, EINVAL, "ld.so.cache: entries out of the file");
	for (uint64_t i = 0; i < nlibs; i++) {
		uint64_t e = base + 48 + i * 24;
		uint32_t flags = (uint32_t)get(&r, e, 4);
		char *name, *path;
		if ((flags & FLAG_TYPE_MASK) != FLAG_ELF_LIBC6)
			continue;
#ifdef FLAG_NATIVE
		if ((flags & FLAG_REQUIRED_MASK) != FLAG_NATIVE)
			continue;
#endif
		/* string offsets count from the new header */
		name = str_at(&r, base, len - base, get(&r, e + 4, 4));
		path = str_at(&r, base, len - base, get(&r, e + 8, 4));
		if (!name || !path) {
			free(name);
			free(path);
			sb_ldcache_release(out);
			return sb_error_setx(err, EINVAL, "ld.so.cache: string out of the file");
		}
		out->v = sb_xgrow(out->v, &alloc, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = (struct sb_ldcache_entry){ name, path, get(&r, e + 16, 8) };
	}
	return 0;
}

/* --- the closure --- */

struct object {
	char *path;   /* as found: $ORIGIN is its directory */
	char *canon;  /* resolved */
	int loader;   /* index of the object that needed it, or -1 */
	char *rpath;  /* DT_RPATH when there is no DT_RUNPATH, else NULL */
	uint8_t elf_class;
	uint16_t machine;
};

struct closure {
	int rootfd;
	const struct sb_elf_closure_opts *opts;
	struct sb_pathmap map;
	struct sb_pathmap seen; /* canonical paths already queued */
	struct sb_walk walk;
	struct object *objs;
	size_t nobjs, alloc;
	struct sb_ldcache cache;
	char **unresolved;
	size_t nunresolved, unresolved_alloc;
};

static int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	while (*path == '/')
		path++;
	return (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
}

/* The file mapped read-only, or NULL with *len 0 when empty or not a
 * regular file. */
static int map_file(int rootfd, const char *path, void **data, size_t *len, struct sb_error **err)
{
	sb_autoclose int fd = open_in_root(rootfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	*data = NULL;
	*len = 0;
	if (fd < 0)
		return sb_error_set(err, errno, "open %s", path);
	if (fstat(fd, &st) < 0)
		return sb_error_set(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return 0;
	if ((uint64_t)st.st_size > SIZE_MAX)
		return sb_error_setx(err, EFBIG, "%s: too large", path);
	*data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (*data == MAP_FAILED) {
		*data = NULL;
		return sb_error_set(err, errno, "mmap %s", path);
	}
	*len = (size_t)st.st_size;
	return 0;
}

static void load_cache(struct closure *c)
{
	void *data;
	size_t len;
	/* A rootfs without a cache (or with a broken one) is searched by
	 * directory, as the loader would. */
	if (map_file(c->rootfd, "/etc/ld.so.cache", &data, &len, NULL) < 0 || !data)
		return;
	sb_ldcache_parse(data, len, &c->cache, NULL);
	munmap(data, len);
}

/* Queue an existing path: its hops and the object are recorded with
 * flags. */
static int enqueue(struct closure *c, const char *path, int loader, unsigned flags)
{
	struct sb_strbuf canon = SB_STRBUF_INIT;
	int rc = sb_walk_path(&c->walk, path, 0, flags, &canon);
	if (rc != 0 || sb_pathmap_get(&c->seen, canon.buf)) {
		sb_strbuf_release(&canon);
		return rc == 0;
	}
	if (c->nobjs == MAX_OBJECTS) {
		sb_strbuf_release(&canon);
		return 0;
	}
	sb_pathmap_add(&c->seen, canon.buf, canon.len, 0, NULL);
	c->objs = sb_xgrow(c->objs, &c->alloc, c->nobjs + 1, sizeof(*c->objs));
	c->objs[c->nobjs++] = (struct object){ sb_xstrdup(path), sb_strbuf_detach(&canon, NULL), loader, NULL, 0, 0 };
	return 1;
}

/* Expand $ORIGIN, $LIB and $PLATFORM (bare or in braces) in one search
 * directory. */
static void expand(const struct closure *c, const struct object *o, const char *dir, size_t len,
		   struct sb_strbuf *out)
{
	static const char *const names[] = { "ORIGIN", "LIB", "PLATFORM" };
	sb_strbuf_reset(out);
	for (size_t i = 0; i < len;) {
		const char *val = NULL;
		size_t skip = 0;
		if (dir[i] == '$') {
			for (size_t k = 0; k < SB_ARRAY_SIZE(names) && !val; k++) {
				size_t n = strlen(names[k]);
				bool brace = i + 1 < len && dir[i + 1] == '{';
				size_t at = i + 1 + brace;
				if (at + n > len || memcmp(dir + at, names[k], n) != 0)
					continue;
				if (brace && (at + n >= len || dir[at + n] != '}'))
					continue;
				if (!brace && at + n < len && (dir[at + n] == '_' || (dir[at + n] >= 'A' && dir[at + n] <= 'Z') ||
							       (dir[at + n] >= 'a' && dir[at + n] <= 'z') ||
							       (dir[at + n] >= '0' && dir[at + n] <= '9')))
					continue;
				skip = 1 + n + 2 * brace;
				val = k == 0 ? NULL : k == 1 ? (c->opts && c->opts->lib ? c->opts->lib : "lib/x86_64-linux-gnu")
						 : (c->opts && c->opts->platform ? c->opts->platform : "x86_64");
				if (k == 0) {
					/* the loader takes the executable's real path
					 * (/proc/self/exe), a library's as found */
					const char *p = o->loader < 0 ? o->canon : o->path;
					const char *slash = strrchr(p, '/');
					sb_strbuf_add(out, p, slash ? (size_t)(slash - p) : 0);
					val = "";
				}
			}
		}
		if (val) {
			sb_strbuf_adds(out, val);
			i += skip;
		} else {
			sb_strbuf_addc(out, dir[i++]);
		}
	}
}

/* Whether path is an ELF object the loader would take for o: same class
 * and machine. */
static bool compatible(const struct closure *c, const struct object *o, const char *path)
{
	sb_autoclose int fd = open_in_root(c->rootfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	unsigned char h[20];
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return false;
	if (memcmp(h, ELFMAG, SELFMAG) != 0 || h[EI_DATA] != ELFDATA2LSB)
		return false;
	return h[EI_CLASS] == o->elf_class && (uint16_t)(h[18] | h[19] << 8) == o->machine;
}

/* Try name in each directory of a colon-separated list. */
static bool search_list(struct closure *c, int obj, const struct object *origin, const char *list, const char *name)
{
	struct sb_strbuf dir = SB_STRBUF_INIT, cand = SB_STRBUF_INIT;
	bool found = false;
	for (const char *p = list; p && !found;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		expand(c, origin, p, n, &dir);
		if (dir.len && dir.buf[0] == '/') {
			sb_strbuf_reset(&cand);
			sb_strbuf_addf(&cand, "%s/%s", dir.buf, name);
			if (compatible(c, &c->objs[obj], cand.buf))
				found = enqueue(c, cand.buf, obj, SB_PATH_NEEDED) > 0;
		}
		p = colon ? colon + 1 : NULL;
	}
	sb_strbuf_release(&dir);
	sb_strbuf_release(&cand);
	return found;
}

static const char *const default_dirs[] = {
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
};

/* glibc's order (elf/dl-load.c, _dl_map_object). */
static void search(struct closure *c, int obj, const char *name, const char *runpath)
{
	bool found = false;
	if (strchr(name, '/')) {
		/* used as it is; a relative one would depend on the cwd at
		 * run time, taken here from the root */
		found = enqueue(c, name, obj, SB_PATH_NEEDED) > 0;
	} else {
		/* DT_RPATH of the object and of its loaders up to the
		 * executable, unless the object has DT_RUNPATH */
		for (int l = runpath ? -1 : obj; l >= 0 && !found; l = c->objs[l].loader)
			if (c->objs[l].rpath)
				found = search_list(c, obj, &c->objs[l], c->objs[l].rpath, name);
		if (!found && c->opts && c->opts->ld_library_path)
			found = search_list(c, obj, &c->objs[obj], c->opts->ld_library_path, name);
		if (!found && runpath)
			found = search_list(c, obj, &c->objs[obj], runpath, name);
		for (size_t i = 0; i < c->cache.n && !found; i++)
			if (!c->cache.v[i].hwcap && strcmp(c->cache.v[i].name, name) == 0 &&
			    compatible(c, &c->objs[obj], c->cache.v[i].path))
				found = enqueue(c, c->cache.v[i].path, obj, SB_PATH_NEEDED) > 0;
		/* glibc-hwcaps variants the loader may prefer on this CPU */
		for (size_t i = 0; i < c->cache.n && found; i++)
			if (c->cache.v[i].hwcap && strcmp(c->cache.v[i].name, name) == 0)
				enqueue(c, c->cache.v[i].path, obj, SB_PATH_NEEDED);
		for (size_t i = 0; i < SB_ARRAY_SIZE(default_dirs) && !found; i++) {
			char *cand = sb_xasprintf("%s/%s", default_dirs[i], name);
			if (compatible(c, &c->objs[obj], cand))
				found = enqueue(c, cand, obj, SB_PATH_NEEDED) > 0;
			free(cand);
		}
	}
	if (!found) {
		c->unresolved = sb_xgrow(c->unresolved, &c->unresolved_alloc, c->nunresolved + 1, sizeof(char *));
		c->unresolved[c->nunresolved++] = sb_xasprintf("%s: %s", c->objs[obj].canon, name);
	}
}

/* "#!interpreter [arg]": the interpreter, as the kernel reads it from the
 * first 256 bytes (BINPRM_BUF_SIZE). */
static char *shebang(const char *d, size_t len)
{
	size_t i = 2, end;
	if (len < 3 || d[0] != '#' || d[1] != '!')
		return NULL;
	if (len > 256)
		len = 256;
	while (i < len && (d[i] == ' ' || d[i] == '\t'))
		i++;
	for (end = i; end < len && d[end] != ' ' && d[end] != '\t' && d[end] != '\n' && d[end] != '\0'; end++)
		;
	return end > i && d[i] == '/' ? sb_xstrndup(d + i, end - i) : NULL;
}

static int process(struct closure *c, size_t idx, struct sb_error **err)
{
	struct sb_elf_info info;
	void *data;
	size_t len;
	char *interp;
	int rc;

	if (map_file(c->rootfd, c->objs[idx].canon, &data, &len, err) < 0)
		return -1;
	if (!data)
		return 0;
	interp = shebang(data, len);
	if (interp) {
		enqueue(c, interp, (int)idx, SB_PATH_INTERP);
		free(interp);
		munmap(data, len);
		return 0;
	}
	rc = sb_elf_parse(data, len, &info, err);
	munmap(data, len);
	if (rc < 0)
		return sb_error_wrap(err, "%s", c->objs[idx].canon);
	if (rc == 0)
		return 0;
	sb_pathmap_add(&c->map, c->objs[idx].canon, strlen(c->objs[idx].canon), SB_PATH_ELF, NULL);
	c->objs[idx].elf_class = info.elf_class;
	c->objs[idx].machine = info.machine;
	if (info.rpath && !info.runpath)
		c->objs[idx].rpath = sb_xstrdup(info.rpath);
	if (info.interp && !enqueue(c, info.interp, (int)idx, SB_PATH_INTERP)) {
		c->unresolved = sb_xgrow(c->unresolved, &c->unresolved_alloc, c->nunresolved + 1, sizeof(char *));
		c->unresolved[c->nunresolved++] = sb_xasprintf("%s: %s", c->objs[idx].canon, info.interp);
	}
	for (size_t i = 0; i < info.nneeded; i++)
		search(c, (int)idx, info.needed[i], info.runpath);
	sb_elf_info_release(&info);
	return 0;
}

int sb_elf_closure(int rootfd, const char *const *paths, size_t n, const struct sb_elf_closure_opts *opts,
		   struct sb_elf_closure *out, struct sb_error **err)
{
	struct closure c;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.rootfd = rootfd;
	c.opts = opts;
	sb_pathmap_init(&c.map);
	sb_pathmap_init(&c.seen);
	c.walk = (struct sb_walk){ rootfd, &c.map, 0, 0, NULL, NULL };
	load_cache(&c);
	for (size_t i = 0; i < n; i++)
		enqueue(&c, paths[i], -1, 0);
	for (size_t i = 0; i < c.nobjs; i++)
		if (process(&c, i, err) < 0)
			goto out;
	sb_pathmap_take(&c.map, &out->paths, &out->npaths);
	out->unresolved = sb_steal(&c.unresolved);
	out->nunresolved = c.nunresolved;
	c.nunresolved = 0;
	ret = 0;
out:
	for (size_t i = 0; i < c.nobjs; i++) {
		free(c.objs[i].path);
		free(c.objs[i].canon);
		free(c.objs[i].rpath);
	}
	free(c.objs);
	for (size_t i = 0; i < c.nunresolved; i++)
		free(c.unresolved[i]);
	free(c.unresolved);
	sb_pathmap_release(&c.map);
	sb_pathmap_release(&c.seen);
	sb_ldcache_release(&c.cache);
	return ret;
}

void sb_elf_closure_release(struct sb_elf_closure *c)
{
	sb_profile_paths_free(c->paths, c->npaths);
	for (size_t i = 0; i < c->nunresolved; i++)
		free(c->unresolved[i]);
	free(c->unresolved);
	memset(c, 0, sizeof(*c));
}
