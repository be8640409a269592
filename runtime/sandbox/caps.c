/* Capabilities as Docker sets them. libcap is not a dependency: capset(2)
 * with the version 3 header is all it would wrap here. */
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/sandbox/internal.h"

#define CAPBIT(c) (UINT64_C(1) << (c))

uint64_t sb_caps_docker_default(void)
{
	return CAPBIT(CAP_CHOWN) | CAPBIT(CAP_DAC_OVERRIDE) | CAPBIT(CAP_FSETID) | CAPBIT(CAP_FOWNER) |
	       CAPBIT(CAP_MKNOD) | CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_SETGID) | CAPBIT(CAP_SETUID) |
	       CAPBIT(CAP_SETFCAP) | CAPBIT(CAP_SETPCAP) | CAPBIT(CAP_NET_BIND_SERVICE) | CAPBIT(CAP_SYS_CHROOT) |
	       CAPBIT(CAP_KILL) | CAPBIT(CAP_AUDIT_WRITE);
}

/* The highest capability the running kernel knows. */
static int last_cap(void)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	int last = CAP_LAST_CAP;
	if (sb_read_file(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", 64, &sb, NULL) == 0)
		last = atoi(sb.buf);
	sb_strbuf_release(&sb);
	return last > 0 && last < 64 ? last : CAP_LAST_CAP;
}

int sb_caps_drop_bounding(uint64_t caps, struct sb_error **err)
{
	int last = last_cap();
	for (int c = 0; c <= last; c++) {
		if (caps & CAPBIT(c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return sb_error_set(err, errno, "drop capability %d from the bounding set", c);
	}
	return 0;
}

int sb_caps_apply(uint64_t caps, bool root, struct sb_error **err)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	uint64_t eff = root ? caps : 0;

	/* Inheritable stays empty, as Docker does since 20.10.14
	 * (CVE-2022-24769): an inheritable set lets a non-root process gain
	 * capabilities through a file's inheritable bits at exec. */
	memset(data, 0, sizeof(data));
	data[0].effective = (uint32_t)eff;
	data[1].effective = (uint32_t)(eff >> 32);
	data[0].permitted = (uint32_t)caps;
	data[1].permitted = (uint32_t)(caps >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return sb_error_set(err, errno, "capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return sb_error_set(err, errno, "clear ambient capabilities");
	return 0;
}
