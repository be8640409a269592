/* runtime/profile: running an image under probes, traced.
 *
 * The image runs as its config says (ENTRYPOINT + CMD, Env, User,
 * WorkingDir) in the sandbox, over an overlay of its layers with a
 * throwaway upper directory, in a network namespace of its own with only
 * loopback (up). Three kinds of probes, combinable and repeatable:
 *
 *  - CMD: the entrypoint runs with the probe's arguments in place of CMD
 *    (as `docker run IMAGE ARGS`), in a sandbox of its own, and is waited
 *    for; its exit code, stdout and stderr are the outcome.
 *  - HTTP: the service (the image's own command) is started; once the
 *    probe's port accepts connections on loopback inside the container's
 *    network namespace, a request is sent from there and the status and
 *    body are the outcome.
 *  - EXEC: a further command inside the running service's container (as
 *    `docker exec`, see sb_sandbox_exec): its exit code and output.
 *
 * HTTP and EXEC probes share one run of the service and run in the order
 * given, after every CMD probe; the service is started once, before the
 * first of them, kept running for at least keep_ms, then stopped as
 * `docker stop` does (SIGTERM, SIGKILL after a grace period) and waited
 * for: nothing is left running when sb_probe_run returns.
 *
 * Traced runs hand every process of every run, and every exec'd command,
 * to a tracer (profile.h); the report holds the union.
 */
#ifndef SB_PROBE_H
#define SB_PROBE_H

#include "runtime/core/digest.h"
#include "runtime/profile/profile.h"

enum sb_probe_kind {
	SB_PROBE_CMD,
	SB_PROBE_HTTP,
	SB_PROBE_EXEC,
};

struct sb_probe {
	enum sb_probe_kind kind;
	/* CMD: arguments replacing CMD after ENTRYPOINT; argv NULL runs the
	 * image's own CMD (the default probe), an empty vector the entrypoint
	 * alone. EXEC: the command. NULL-terminated, argc entries, owned. */
	char **argv;
	size_t argc;
	/* HTTP */
	char *method;    /* "GET" unless given */
	unsigned port;   /* 1..65535 */
	char *path;      /* starts with '/' */
	int want_status; /* 0: any status is recorded; else a mismatch fails the probe */
};

/* Parse one probe as the CLI gives it, into out (release with
 * sb_probe_release):
 *  - CMD  (--probe-cmd): a JSON array of strings, or shell words (quotes
 *    and backslashes as in a Dockerfile; $ is not expanded);
 *  - EXEC (--probe-exec): a JSON array, or one string run through
 *    /bin/sh -c;
 *  - HTTP (--http-probe): "[METHOD ]PORT[/PATH][=STATUS]", e.g. "8080/",
 *    "GET 8080/health=200", "POST 80/api". */
int sb_probe_parse(enum sb_probe_kind kind, const char *spec, struct sb_probe *out, struct sb_error **err);
void sb_probe_release(struct sb_probe *p);
/* "cmd [...]", "http GET 8080/x=200", "exec [...]": for messages. Caller frees. */
char *sb_probe_describe(const struct sb_probe *p);

/* What of the image a run needs: its layers and its config. Nothing here
 * is owned by the struct; vectors are NULL-terminated (or NULL). */
struct sb_probe_image {
	const char *const *lower_dirs; /* the rootfs layers, topmost first (overlayfs order) */
	const char *const *entrypoint;
	const char *const *cmd;
	const char *const *env; /* "K=V" */
	const char *user;       /* USER, or NULL */
	const char *workdir;    /* WORKDIR, or NULL */
	const unsigned *ports;  /* EXPOSEd TCP ports */
	size_t nports;
};

struct sb_probe_opts {
	const struct sb_probe *probes;
	size_t nprobes; /* 0: the defaults (see sb_probe_run) */
	unsigned timeout_ms; /* per probe (a CMD's run, a port's wait, a request, an exec); 0: 30 s */
	unsigned keep_ms;    /* the service runs at least this long after it started */
	unsigned stop_ms;    /* grace between SIGTERM and SIGKILL when stopping it; 0: 10 s, as docker stop */
	bool trace;
	struct sb_trace_opts trace_opts;
	/* Where each run's overlay (upper, work, mount point) is made, in a
	 * fresh directory removed by sb_probe_report_release. Must suit an
	 * overlay upper directory. NULL: $TMPDIR, else /tmp. */
	const char *scratch_dir;
};

/* Bytes of stdout and stderr kept, and of an HTTP body; digests always
 * cover everything. */
#define SB_PROBE_MAX_OUTPUT ((size_t)1 << 20)
#define SB_PROBE_MAX_BODY_PREFIX ((size_t)4096)
/* An HTTP response larger than this fails the probe. */
#define SB_PROBE_MAX_RESPONSE ((size_t)64 << 20)

struct sb_probe_outcome {
	enum sb_probe_kind kind;
	char *name;  /* sb_probe_describe */
	char *error; /* NULL when the probe ran to its end; else why not (timeout, refused, status ...) */
	bool timed_out;
	uint64_t ms; /* wall time of the probe (for HTTP, the port's wait included) */

	/* CMD, EXEC */
	int exit_code; /* the exit code, 128 + signal when killed; -1 when it never ran */
	char *out;     /* first SB_PROBE_MAX_OUTPUT bytes of stdout, NUL-terminated */
	size_t out_len;
	uint64_t out_size; /* all of it */
	char out_digest[SB_DIGEST_SIZE];
	char *err_out; /* first SB_PROBE_MAX_OUTPUT bytes of stderr */
	size_t err_len;

	/* HTTP */
	int http_status; /* 0 when no response */
	char *body;      /* first SB_PROBE_MAX_BODY_PREFIX bytes (de-chunked), NUL-terminated */
	size_t body_len;
	uint64_t body_size;
	char body_digest[SB_DIGEST_SIZE];
};

struct sb_probe_report {
	struct sb_probe_outcome *outcomes; /* one per probe, in order (the defaults when none was given) */
	size_t n;
	size_t failed; /* outcomes with an error */
	/* The union of every traced run and exec (when opts->trace); its
	 * rootfd is the first run's root, kept mounted until release. */
	struct sb_trace_result trace;
	bool traced;
	/* Timings, for comparing traced with untraced runs of the same
	 * probes: the whole call, and the service from start to exit. */
	uint64_t wall_ms;
	uint64_t service_ms;
	/* The service, when one ran: its host pid (gone by now) and how it
	 * ended (exit code, or 128 + signal). */
	pid_t service_pid;
	int service_status;
	char *scratch; /* owned: removed by release */
};

/* Run the probes (opts->probes, or when there are none: an HTTP GET / on
 * every EXPOSEd port, else the image's command as it is, waited for) and
 * fill out (release with sb_probe_report_release, also after a failure).
 * A probe that fails (a timeout, a refused connection, an unwanted status,
 * a service that exited early) does not fail the call: its outcome holds
 * the error, counted in out->failed. Returns -1 with *err when a run could
 * not be set up or started (bad options, no command, the sandbox, the
 * tracer). Must be called as root, as sb_sandbox_run. */
int sb_probe_run(const struct sb_probe_image *img, const struct sb_probe_opts *opts, struct sb_probe_report *out,
		 struct sb_error **err);
void sb_probe_report_release(struct sb_probe_report *r);

/* For verification: whether two outcomes of the same probe (fat and slim)
 * agree: exit code and stdout digest for CMD and EXEC, status and body
 * digest for HTTP. An outcome with an error equals nothing. When they
 * differ and why is non-NULL, *why gets a message (caller frees). */
bool sb_probe_outcome_equal(const struct sb_probe_outcome *a, const struct sb_probe_outcome *b, char **why);

/* Merge from into into (paths, flags and syscalls or-ed, counters added);
 * into keeps its rootfd and tracer unless it has none. from is released. */
void sb_trace_result_merge(struct sb_trace_result *into, struct sb_trace_result *from);

#endif
