/*
 * report.cc: the status and metrics files, and sd_notify without
 * libsystemd.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

std::string
report_status_json(const struct report_state *st, long wrapper_pid)
{
	std::string out = "{\"state\":";
	char buf[96];
	bool first = true;

	log_quote_json(&out, st->state);
	snprintf(buf, sizeof buf, ",\"wrapper\":%ld,\"current\":", wrapper_pid);
	out += buf;
	const struct report_gen *cur = NULL;
	for (const struct report_gen &g : st->gens)
		if (g.current)
			cur = &g;
	if (cur != NULL) {
		snprintf(buf, sizeof buf, "{\"pid\":%d,\"generation\":%u", (int)cur->pid, cur->number);
		out += buf;
		if (st->current_since.tv_sec != 0) {
			out += ",\"since\":\"";
			log_format_time(&out, &st->current_since);
			out.push_back('"');
		}
		out.push_back('}');
	} else {
		out += "null";
	}
	out += ",\"draining\":[";
	for (const struct report_gen &g : st->gens) {
		if (g.current)
			continue;
		snprintf(buf, sizeof buf, "%s{\"pid\":%d,\"generation\":%u}", first ? "" : ",",
		    (int)g.pid, g.number);
		out += buf;
		first = false;
	}
	out += "],\"last_upgrade\":{\"result\":";
	log_quote_json(&out, st->last_upgrade);
	out += ",\"time\":";
	if (st->last_upgrade_at.tv_sec != 0) {
		out.push_back('"');
		log_format_time(&out, &st->last_upgrade_at);
		out.push_back('"');
	} else {
		out += "null";
	}
	out += "}";
	if (!st->daemon_status.empty()) {
		out += ",\"daemon_status\":";
		log_quote_json(&out, st->daemon_status.c_str());
	}
	if (st->exit_code >= 0) {
		snprintf(buf, sizeof buf, ",\"exit_code\":%d", st->exit_code);
		out += buf;
	}
	out += "}\n";
	return out;
}

/*
 * Create a new file beside path, ".<name>.<12 hex digits>": O_EXCL makes
 * the kernel create it or fail, so nothing already there is opened,
 * whatever it is (a FIFO would block an open for writing until a reader
 * comes, a hard link would be truncated, and a symbolic link is not
 * followed with O_CREAT|O_EXCL, open(2)).  A name taken is tried again
 * with other digits.  The leading dot keeps a temporary left by a killed
 * wrapper out of a plain ls and of globs on the status file's name.
 */
static int
create_temp(const char *path, std::string *tmp)
{
	const char *slash = strrchr(path, '/');
	std::string prefix = slash == NULL ? std::string(".") + path + "." :
	    std::string(path, (size_t)(slash - path + 1)) + "." + (slash + 1) + ".";
	static unsigned long long counter;

	for (int tries = 0; tries < 100; tries++) {
		unsigned long long r = 0;
		struct timespec ts;
		char suffix[32];
		int fd;

		/* Unpredictable names: another user cannot take them all in
		 * advance.  Without getrandom's bytes (early at boot), the
		 * clock, the pid and a counter still make a free name likely;
		 * O_EXCL keeps it safe either way. */
		if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			r = (unsigned long long)ts.tv_nsec * 2654435761ULL ^
			    ((unsigned long long)getpid() << 32) ^ ++counter;
		}
		snprintf(suffix, sizeof suffix, "%012llx", r & 0xffffffffffffULL);
		*tmp = prefix + suffix;
		/* 0644, less the umask, as the status file always had. */
		fd = open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY |
		    O_CLOEXEC, 0644);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/*
 * No fsync(): the file describes processes that a machine crash ends too,
 * and the directory is usually a tmpfs (/run) where it does nothing; on a
 * disk it would make the event loop wait for the disk at every change.  A
 * reader still never sees a part: rename() replaces the name at once.
 */
int
report_write_atomic(const char *path, const std::string &text)
{
	std::string tmp;
	const char *p = text.data();
	size_t left = text.size();
	int fd, r = 0;

	fd = create_temp(path, &tmp);
	if (fd < 0)
		return fd;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp.c_str(), path) < 0)
		r = -errno;
	if (r != 0)
		unlink(tmp.c_str());
	return r;
}

int
report_notify(const char *socket_path, const std::string &msg)
{
	struct sockaddr_un sa;
	size_t len = strlen(socket_path);
	socklen_t salen;
	int fd, r = 0;

	if (len == 0 || len >= sizeof sa.sun_path || (socket_path[0] != '/' && socket_path[0] != '@'))
		return -EINVAL;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, socket_path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';  /* the abstract namespace */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&sa, salen) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* ---- the reporter ---- */

void
report_init(struct reporter *r, const struct settings *s, const char *notify_socket)
{
	r->status_file = s->status_file;
	r->notify_socket = notify_socket != NULL ? notify_socket : "";
	r->notify_fd = s->notify_fd;
	r->last_json.clear();
	r->told = PHASE_STARTING;
	r->upgrade_result = "none";
	r->upgrade_at.tv_sec = 0;
	r->upgrade_at.tv_nsec = 0;
	r->ready_sent = false;
	r->reloading = false;
	r->exit_code = -1;
	r->metrics_file = s->metrics_file;
	r->labels = s->metrics_labels;
	r->last_metrics.clear();
	memset(r->upgrades, 0, sizeof r->upgrades);
	memset(r->signals, 0, sizeof r->signals);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	r->started = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	r->metrics_deferred = false;
	r->metrics_st = NULL;
	r->since_number = 0;
	r->since = {0, 0};
	r->daemon_status.clear();
	r->queue.clear();
	r->queue_dropped = 0;
}

static void write_status(struct reporter *r, const struct sitter *st);

/* systemd's notification socket, when we run under it. */
static void
notify(struct reporter *r, const std::string &msg)
{
	int e;

	if (r->notify_socket.empty())
		return;
	/* In order: nothing overtakes what is queued. */
	if (r->queue.empty() && (e = report_notify(r->notify_socket.c_str(), msg)) != -EAGAIN) {
		if (e < 0)
			log_event(LOG_WARN, "cannot notify the service manager",
			    {{"socket", r->notify_socket}, {"error", strerror(-e)}});
		return;
	}
	if (r->queue.size() >= REPORT_QUEUE_MAX) {
		r->queue.pop_front();
		r->queue_dropped++;
	}
	r->queue.push_back(msg);
}

bool
report_flush(struct reporter *r)
{
	int e;

	while (!r->queue.empty()) {
		e = report_notify(r->notify_socket.c_str(), r->queue.front());
		if (e == -EAGAIN)
			return true;
		if (e < 0)
			log_event(LOG_WARN, "cannot notify the service manager",
			    {{"socket", r->notify_socket}, {"error", strerror(-e)}});
		r->queue.pop_front();
	}
	if (r->queue_dropped > 0) {
		log_event(LOG_WARN, "the service manager did not take some messages",
		    {{"socket", r->notify_socket}, {"dropped", r->queue_dropped}});
		r->queue_dropped = 0;
	}
	return false;
}

void
report_relay(struct reporter *r, const std::string &msg)
{
	notify(r, msg);
}

void
report_daemon_status(struct reporter *r, const struct sitter *st, unsigned number,
    const std::string &text)
{
	r->daemon_status = text;
	write_status(r, st);
	notify(r, "STATUS=" + text + " (generation " + std::to_string(number) + ")");
}

static std::string
status_line(const struct sitter *st)
{
	const struct generation *g = sitter_gen(st, st->current);
	size_t n = 0;
	char buf[128];

	if (g == NULL)
		return "STATUS=no current process";
	for (const struct generation &o : st->gens)
		if (o.role != ROLE_ORPHAN)
			n++;
	snprintf(buf, sizeof buf, "STATUS=current pid %d, generation %u, %zu generation(s)",
	    (int)g->pid, g->number, n);
	return buf;
}

static const char *const phase_names[] = {"starting", "running", "upgrading", "stopping",
    "exited"};

/* When the current generation became current: noted the first time the
 * reporter sees it so (report_sync runs after every event). */
static void
note_current(struct reporter *r, const struct sitter *st)
{
	if (st->current != r->since_number) {
		r->since_number = st->current;
		clock_gettime(CLOCK_REALTIME, &r->since);
	}
}

static void
fill_state(struct reporter *r, const struct sitter *st, struct report_state *rs)
{
	note_current(r, st);
	rs->state = phase_names[sitter_phase(st)];
	/* Orphans are not the daemon (sitter.h): not listed. */
	for (const struct generation &g : st->gens)
		if (g.role != ROLE_ORPHAN)
			rs->gens.push_back({g.number, g.pid, g.number == st->current});
	rs->current_since = st->current != 0 ? r->since : timespec{0, 0};
	rs->last_upgrade = r->upgrade_result;
	rs->last_upgrade_at = r->upgrade_at;
	rs->exit_code = sitter_phase(st) == PHASE_EXITED ? r->exit_code : -1;
	rs->daemon_status = r->daemon_status;
}

std::string
report_status(struct reporter *r, const struct sitter *st)
{
	struct report_state rs;

	fill_state(r, st, &rs);
	return report_status_json(&rs, (long)getpid());
}

std::vector<std::string>
report_status_text(struct reporter *r, const struct sitter *st)
{
	std::vector<std::string> out;
	struct report_state rs;
	std::string line;
	char buf[128];

	fill_state(r, st, &rs);
	out.push_back(std::string("state: ") + rs.state);
	snprintf(buf, sizeof buf, "wrapper: pid %ld", (long)getpid());
	out.push_back(buf);
	line = "current: none";
	for (const struct report_gen &g : rs.gens) {
		if (!g.current)
			continue;
		snprintf(buf, sizeof buf, "current: generation %u, pid %d", g.number, (int)g.pid);
		line = buf;
		if (rs.current_since.tv_sec != 0) {
			line += ", since ";
			log_format_time(&line, &rs.current_since);
		}
	}
	out.push_back(line);
	for (const struct report_gen &g : rs.gens) {
		if (g.current)
			continue;
		snprintf(buf, sizeof buf, "draining: generation %u, pid %d", g.number, (int)g.pid);
		out.push_back(buf);
	}
	line = std::string("last upgrade: ") + rs.last_upgrade;
	if (rs.last_upgrade_at.tv_sec != 0) {
		line += ", ";
		log_format_time(&line, &rs.last_upgrade_at);
	}
	out.push_back(line);
	return out;
}

/* A file the reporter keeps, replaced when its text differs from *last,
 * what it holds now; a failure is logged as msg, with the path under the
 * file's configuration key. */
static void
rewrite(const std::string &path, const char *key, const char *msg, const std::string &text,
    std::string *last)
{
	int e;

	if (text == *last)
		return;
	e = report_write_atomic(path.c_str(), text);
	if (e < 0) {
		log_event(LOG_WARN, msg, {{key, path}, {"error", strerror(-e)}});
		return;
	}
	*last = text;
}

/* The status file, rewritten when what it says changes. */
static void
write_status(struct reporter *r, const struct sitter *st)
{
	if (r->status_file.empty())
		return;
	rewrite(r->status_file, "status_file", "cannot write the status file",
	    report_status(r, st), &r->last_json);
}

/* A start time in clock ticks since boot (/proc/PID/stat's starttime,
 * proc(5): the kernel's start_boottime, fs/proc/array.c) as unix time.
 * The boot's own unix time is CLOCK_REALTIME less CLOCK_BOOTTIME, taken
 * now: /proc/stat's btime is the same difference, cut to whole seconds,
 * and would put a process up to a second before its parent. */
static double
start_seconds(unsigned long long ticks)
{
	struct timespec real, boot;
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0 || clock_gettime(CLOCK_REALTIME, &real) < 0 ||
	    clock_gettime(CLOCK_BOOTTIME, &boot) < 0)
		return 0;
	return (double)(real.tv_sec - boot.tv_sec) + (double)(real.tv_nsec - boot.tv_nsec) / 1e9 +
	    (double)ticks / (double)hz;
}

/* The metrics file, rewritten when what it says changes. */
static void
write_metrics(struct reporter *r, const struct sitter *st)
{
	enum sitter_phase phase = sitter_phase(st);
	const struct generation *cur = sitter_gen(st, st->current);
	struct metrics_state m;

	if (r->metrics_file.empty())
		return;
	memset(&m, 0, sizeof m);
	m.phase = phase_names[phase];
	if (phase == PHASE_EXITED)
		cur = NULL;
	m.up = cur != NULL;
	if (cur != NULL) {
		m.generation = cur->number;
		m.pid = cur->pid;
		if (cur->start_time != 0)
			m.daemon_start_time = start_seconds(cur->start_time);
	}
	for (const struct generation &g : st->gens) {
		if (g.role == ROLE_ORPHAN)
			m.orphans++;
		else if (g.number == st->current)
			m.current++;
		else
			m.draining++;
	}
	memcpy(m.upgrades, r->upgrades, sizeof m.upgrades);
	memcpy(m.signals, r->signals, sizeof m.signals);
	m.log_lines_dropped = log_dropped_total();
	if (r->upgrade_at.tv_sec != 0)
		m.last_upgrade_time = (double)r->upgrade_at.tv_sec +
		    (double)r->upgrade_at.tv_nsec / 1e9;
	m.daemon_exit_code = st->have_status ? sitter_exit_code(st->last_status) : -1;
	m.exit_code = phase == PHASE_EXITED ? r->exit_code : -1;
	m.start_time = r->started;
	rewrite(r->metrics_file, "metrics_file", "cannot write the metrics file",
	    metrics_format(&m, r->labels), &r->last_metrics);
}

static void
metrics_idle_cb(uv_idle_t *h)
{
	struct reporter *r = (struct reporter *)h->data;

	uv_idle_stop(h);
	write_metrics(r, r->metrics_st);
}

void
report_attach_loop(struct reporter *r, uv_loop_t *loop)
{
	if (r->metrics_file.empty() || uv_idle_init(loop, &r->metrics_idle) != 0)
		return;
	r->metrics_idle.data = r;
	/* It never keeps the loop running, and is active only while a
	 * write is due (an active idle handle makes the loop poll without
	 * waiting, once): an idle wrapper still makes no wakeups. */
	uv_unref((uv_handle_t *)&r->metrics_idle);
	r->metrics_deferred = true;
}

/* The status file now; the metrics file before the loop next waits
 * (report_attach_loop), else now too. */
static void
write_files(struct reporter *r, const struct sitter *st)
{
	write_status(r, st);
	if (r->metrics_deferred && !uv_is_closing((uv_handle_t *)&r->metrics_idle)) {
		r->metrics_st = st;
		uv_idle_start(&r->metrics_idle, metrics_idle_cb);
		return;
	}
	write_metrics(r, st);
}

void
report_sync(struct reporter *r, const struct sitter *st)
{
	enum sitter_phase now = sitter_phase(st);

	note_current(r, st);
	if (now == PHASE_EXITED)
		return;  /* report_exit said it */
	write_files(r, st);
	if (now == PHASE_STOPPING && r->told != PHASE_STOPPING)
		notify(r, "STOPPING=1");
	r->told = now;
}

void
report_ready(struct reporter *r, const struct sitter *st)
{
	if (r->ready_sent)
		return;
	r->ready_sent = true;
	/* The file first: whoever the message wakes reads it. */
	write_files(r, st);
	notify(r, "READY=1\n" + status_line(st));
	if (r->notify_fd >= 0) {
		/* s6's notification-fd: one newline, then close it. */
		ssize_t n;
		do
			n = write(r->notify_fd, "\n", 1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			log_event(LOG_WARN, "cannot write the readiness notification",
			    {{"fd", r->notify_fd}, {"error", strerror(errno)}});
		close(r->notify_fd);
		r->notify_fd = -1;
	}
}

void
report_current(struct reporter *r, const struct sitter *st)
{
	if (r->ready_sent)
		notify(r, status_line(st));
}

void
report_upgrade_begin(struct reporter *r)
{
	struct timespec now;
	char buf[64];

	if (r->notify_socket.empty())
		return;
	/* systemd 253+ wants the time with RELOADING=1. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	snprintf(buf, sizeof buf, "\nMONOTONIC_USEC=%llu",
	    (unsigned long long)now.tv_sec * 1000000ULL +
	    (unsigned long long)now.tv_nsec / 1000);
	notify(r, std::string("RELOADING=1") + buf + "\nSTATUS=upgrading");
	r->reloading = true;
}

void
report_upgrade_refused(struct reporter *r)
{
	r->upgrades[UPGRADE_REFUSED]++;
}

void
report_signal(struct reporter *r, int sig)
{
	if (sig > 0 && sig < SIG_LIMIT)
		r->signals[sig]++;
}

void
report_upgrade_end(struct reporter *r, const struct sitter *st, const char *result)
{
	r->upgrades[strcmp(result, "complete") == 0 ? UPGRADE_SUCCEEDED : UPGRADE_FAILED]++;
	r->upgrade_result = result;
	clock_gettime(CLOCK_REALTIME, &r->upgrade_at);
	write_files(r, st);
	/* An upgrade systemd was told of ends with READY=1 (after
	 * RELOADING=1); otherwise only the status changes. */
	notify(r, (r->reloading ? "READY=1\n" : "") + status_line(st));
	r->reloading = false;
}

void
report_exit(struct reporter *r, const struct sitter *st, int code)
{
	r->exit_code = code;
	/* Both at once: the loop stops after this turn, before its idle
	 * handles would run again. */
	write_status(r, st);
	if (r->metrics_deferred)
		uv_idle_stop(&r->metrics_idle);
	write_metrics(r, st);
}
