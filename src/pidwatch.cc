/*
 * pidwatch.cc: the pid file side of the glue.  The pid file's directory is
 * watched (uv_fs_event, inotify); on every change, every death and, while
 * a new pid file is awaited, on a timer, the pid file and its upgrade
 * siblings (.oldbin, .2) are read and what they name is checked, and the
 * sitter hears of it as EV_FOUND.  The wrapper's re-parented children are
 * looked at here too.  doc/DESIGN.md, "The data path", tells the order.
 */
#include "watch.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pidfile.h"

/* Refused before, and still the same process?  A process is its pid and
 * its start time: the pid alone may have gone to a daemon since. */
static bool
was_refused(struct watch *w, pid_t pid)
{
	struct proc_stat st;

	if (proc_read_stat(pid, &st) < 0)
		return false;
	for (const struct refusal &r : w->refused)
		if (r.pid == pid && r.start_time == st.start_time)
			return true;
	return false;
}

static void
remember_refusal(struct watch *w, pid_t pid)
{
	struct proc_stat st;

	if (proc_read_stat(pid, &st) < 0)
		return;
	/* Bounded: a pid file rewritten with ever new strangers must not
	 * grow the wrapper; the oldest is forgotten (and logged again). */
	if (w->refused.size() >= 64)
		w->refused.erase(w->refused.begin());
	w->refused.push_back({pid, st.start_time});
}

/* The pid file's number, by the trust rules (pidfile.h). */
static int
read_pidfile(struct watch *w, const std::string &path, pid_t *pid, std::string *why,
    struct stat *seen = nullptr)
{
	return pidfile_read(path.c_str(), w->pid_max, w->s->owner_any ? (uid_t)-1 : w->s->owner,
	    pid, why, seen);
}

int
watch_lookup(struct watch *w, const std::string &path, pid_t *pid, struct identity *id,
    std::string *why)
{
	int r = read_pidfile(w, path, pid, why);

	return r < 0 ? r : proc_identify(*pid, &w->rules, id, why);
}

/* What a known generation runs now (a script may have exec'd the daemon
 * since it was found). */
static void
read_program(struct watch *w, const struct generation *gen, struct proc_program *prog)
{
	struct gen_watch *g = watch_gen(w, gen->number);
	struct proc_program p;

	/* Read, then checked through the pidfd: still the same process. */
	if (proc_read_program(gen->pid, &p) == 0 &&
	    (g == NULL || g->pidfd < 0 || pidfd_signal(g->pidfd, 0) == 0))
		*prog = p;
}

/* The rules a new process is checked against, with the current
 * generation's program as it runs now.  The program taken when a pid file
 * first named it may be a script's: a background subshell that wrote the
 * pid file before it exec'd the daemon, whose successor would then be
 * refused and left to run on unsupervised.  Once a pid file named the
 * current generation it is the daemon, whatever it has exec'd since. */
static struct match_rules
current_rules(struct watch *w)
{
	struct match_rules rules = w->rules;
	const struct generation *cur = sitter_gen(&w->st, w->st.current);

	if (cur != NULL && cur->named)
		read_program(w, cur, &rules.program);
	return rules;
}

struct match_rules
pidwatch_rules(struct watch *w)
{
	return current_rules(w);
}

/* A pid file names a generation we know: tell the sitter again (on_found
 * in sitter.cc may make a draining one current again). */
static void
found_known(struct watch *w, const struct generation *gen, pid_t pid, enum found_source source)
{
	struct event ev = watch_event(EV_FOUND);

	ev.pid = pid;
	ev.start_time = gen->start_time;
	ev.source = source;
	if (source == FOUND_PIDFILE && !gen->named)
		read_program(w, gen, &ev.program);
	watch_dispatch(w, &ev);
}

/* Read the pid file at path and tell the sitter what it names.  Returns
 * what pidfile_read() returned.  For the pid file itself, what was read
 * is remembered for pidwatch_recheck(). */
static int
check_one(struct watch *w, const std::string &path, enum found_source source)
{
	const struct generation *gen, *cur;
	struct identity id;
	std::string why;
	struct stat seen;
	pid_t pid;
	int r;

	r = read_pidfile(w, path, &pid, &why, &seen);
	if (source == FOUND_PIDFILE) {
		w->pidfile_seen = r == 0 ? SEEN_READ : r == -ENOENT ? SEEN_ABSENT : SEEN_NOTHING;
		if (r == 0)
			w->pidfile_stat = seen;
		w->pidfile_pid = r == 0 ? pid : 0;
	}
	if (r == -ENOENT)
		return r;
	if (r < 0) {
		/* A torn write is read again on the next change.  What the
		 * timed re-read finds again was said already. */
		std::string said = path + ": " + why;
		bool again = w->rereading && said == w->last_warning;
		if (r != -EINVAL)
			w->last_warning = said;
		log_event(r == -EINVAL || again ? LOG_DEBUG : LOG_WARN, "cannot use pid file",
		    {{"pid_file", path}, {"error", why}});
		return r;
	}
	gen = sitter_gen_by_pid(&w->st, pid);
	if (gen != NULL) {
		found_known(w, gen, pid, source);
		return 0;
	}
	if (was_refused(w, pid))
		return 0;
	struct match_rules rules = current_rules(w);
	r = proc_identify(pid, &rules, &id, &why);
	if (r == ID_ERROR) {
		/* Not refused for good: the next change tries again, and so
		 * does a death (pidwatch_recheck). */
		if (source == FOUND_PIDFILE)
			w->pidfile_seen = SEEN_NOTHING;
		log_event(LOG_WARN, "cannot check the process the pid file names",
		    {{"pid_file", path}, {"process", (long)pid}, {"error", why}});
		return 0;
	}
	if (r == ID_DEAD) {
		log_event(LOG_DEBUG, "pid file names no live process",
		    {{"pid_file", path}, {"process", (long)pid}, {"reason", why}});
		return 0;
	}
	if (r != ID_OK) {
		remember_refusal(w, pid);
		log_event(LOG_WARN, "not following process",
		    {{"pid_file", path}, {"process", (long)pid}, {"reason", why}});
		return 0;
	}
	struct event ev = watch_event(EV_FOUND);
	ev.pid = pid;
	ev.start_time = id.start_time;
	ev.source = source;
	ev.pidfd = id.pidfd;
	ev.program = id.program;
	/* Start times are in clock ticks (10 ms): in the same tick as the
	 * current generation, the pidfds' order says which came first. */
	cur = sitter_gen(&w->st, w->st.current);
	struct gen_watch *cg = cur != NULL ? watch_gen(w, cur->number) : NULL;
	ev.born_before_current = cg != NULL && cur->start_time == id.start_time &&
	    id.start_time > 0 && pidfd_born_before(id.pidfd, cg->pidfd);
	watch_dispatch(w, &ev);
	return 0;
}

/*
 * An upgrade sibling (.oldbin, .2) of the pid file, which is rarely there.
 * When the pid file's own read (main_r) walked the directory's path
 * without a refusal (it read the file, or found none), an absent sibling
 * is told by one lstat() rather than by pidfile_read()'s walk of every
 * component (some twelve system calls, on every death and every change in
 * the directory): the walk would end in ENOENT as well, on which
 * check_one says nothing.  Anything else (the sibling is there, or a
 * symbolic link, or the lstat fails otherwise) gets the whole read.
 */
static void
check_sibling(struct watch *w, int main_r, const std::string &path, enum found_source source)
{
	struct stat st;

	if ((main_r == 0 || main_r == -ENOENT) && lstat(path.c_str(), &st) < 0 &&
	    errno == ENOENT)
		return;
	check_one(w, path, source);
}

/* .oldbin, then .2, after the pid file's own read returned main_r
 * (check_sibling), unless that read ended the watch. */
static void
check_siblings(struct watch *w, int main_r)
{
	if (w->done)
		return;
	check_sibling(w, main_r, w->s->pid_file + ".oldbin", FOUND_OLDBIN);
	if (w->done)
		return;
	check_sibling(w, main_r, w->s->pid_file + ".2", FOUND_DOT2);
}

/* Read the pid file and its upgrade siblings; report what they name. */
void
pidwatch_refresh(struct watch *w)
{
	int r;

	if (w->done)
		return;
	r = check_one(w, w->s->pid_file, FOUND_PIDFILE);
	check_siblings(w, r);
}

/*
 * At a generation's death the pid file must be read again when a
 * successor may have written it a moment before (doc/DESIGN.md, "The data
 * path").  But the directory watch tells of every change: when inotify
 * has nothing queued (FIONREAD on the instance libuv reads, inotify(7)),
 * every change so far has been read already, by dir_event_cb's refresh in
 * the same turn of the loop.  The pid file is then still what the last
 * read found, which one lstat() confirms (the same inode, size, mode,
 * owner and times; an overflowed queue, whose loss libuv does not pass on,
 * is caught by that too, as long as the file was replaced or its times
 * moved).  Saves the walk of every directory on the way (17 system calls
 * three directories deep) on the path from the death to the wrapper's
 * exit.  What the read would then tell the sitter is told without it:
 * the number read last, when it is a generation's; a number of any other
 * process is read again, the whole way (check_one).  While a pid file is
 * awaited, while the directory is not watched, or when the last read
 * found neither a pid nor the file gone, everything is read.
 */
static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	    a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static bool
unchanged_since_read(struct watch *w)
{
	struct stat st;
	int queued = -1;

	if (w->pidfile_seen == SEEN_NOTHING || !w->dir_watching || w->loop->inotify_fd < 0 ||
	    uv_is_active((uv_handle_t *)&w->reread_timer))
		return false;
	if (ioctl(w->loop->inotify_fd, FIONREAD, &queued) < 0 || queued != 0)
		return false;
	if (lstat(w->s->pid_file.c_str(), &st) < 0)
		return errno == ENOENT && w->pidfile_seen == SEEN_ABSENT;
	return w->pidfile_seen == SEEN_READ && same_file(&st, &w->pidfile_stat);
}

/* The siblings are looked at either way: a lost event (an overflowed
 * queue) may have hidden a <pidfile>.2 that names a successor while the
 * pid file, unchanged, still names the dead one (gunicorn's new master,
 * its old one killed).  Absent, as a rule, they cost an lstat() each. */
void
pidwatch_recheck(struct watch *w)
{
	if (w->done)
		return;
	if (!unchanged_since_read(w)) {
		pidwatch_refresh(w);
		return;
	}
	if (w->pidfile_seen == SEEN_ABSENT) {
		check_siblings(w, -ENOENT);
		return;
	}
	const struct generation *gen = sitter_gen_by_pid(&w->st, w->pidfile_pid);
	if (gen == NULL) {
		pidwatch_refresh(w);
		return;
	}
	found_known(w, gen, w->pidfile_pid, FOUND_PIDFILE);
	check_siblings(w, 0);
}

/* inotify drops what comes after its queue overflows (a wrapper stopped
 * or starved while thousands of files are made in the directory), and
 * libuv does not even pass the overflow on: an event whose watch
 * descriptor matches no watcher, as IN_Q_OVERFLOW's (-1), is skipped
 * (libuv src/unix/linux-inotify.c, uv__inotify_read; inotify(7)).  A lost
 * rename of the pid file cannot be told from no rename.  So while a new
 * pid file is awaited (an upgrade, a forking daemon's start) the files are
 * also read every poll_interval: a lost event costs at most that.  The
 * rest of the time the timer is off, and an idle wrapper never wakes. */
static void
reread_cb(uv_timer_t *t)
{
	struct watch *w = (struct watch *)t->data;

	w->rereading = true;
	pidwatch_refresh(w);
	w->rereading = false;
}

void
pidwatch_sync(struct watch *w)
{
	bool want = !w->done && sitter_awaits_pidfile(&w->st);
	bool on = uv_is_active((uv_handle_t *)&w->reread_timer) != 0;

	if (want && !on)
		uv_timer_start(&w->reread_timer, reread_cb, w->s->poll_interval_ms,
		    w->s->poll_interval_ms);
	else if (!want && on)
		uv_timer_stop(&w->reread_timer);
}

/* Our live children that are no generation of the daemon, re-parented to
 * us (a child subreaper) when their parent died.  Those that look like the
 * daemon (its names, or the current generation's program) are followed as
 * orphans: an upgrade's new process whose parent died before it wrote the
 * pid file, a crashed master's workers.  Which of them is the daemon, if
 * any, only evidence tells (sitter.h); meanwhile a stop reaches them, so
 * that none runs on unsupervised.  Returns how many there are, orphans or
 * not.  When there is exactly one, *only is it (pid 0: it could not be
 * checked), its pidfd (if any) the caller's to close: what a start process
 * that exited 0 left is the daemon it forked, whatever its name. */
int
pidwatch_orphans(struct watch *w, struct identity *only)
{
	std::vector<pid_t> children = proc_children(getpid(), false);
	struct match_rules any;
	int n = 0;

	only->pid = 0;
	only->pidfd = -1;
	only->start_time = 0;
	/* None, the common case: the current program is not read (at a
	 * death it is the dead process's, from /proc, for nothing). */
	if (children.empty())
		return 0;
	any = current_rules(w);
	any.any_program = true;
	for (pid_t pid : children) {
		const struct generation *known = sitter_gen_by_pid(&w->st, pid);
		struct identity id;
		std::string why;
		int r;

		if (w->done)
			break;
		if ((known != NULL && known->role != ROLE_ORPHAN) ||
		    (w->child_running && pid == w->child_pid))
			continue;
		if (known != NULL) {
			id.pid = pid;
			id.pidfd = -1;
			id.start_time = known->start_time;
			r = ID_OK;
		} else {
			r = proc_identify(pid, &any, &id, &why);
			if (r == ID_DEAD)
				continue;
			if (r == ID_OK && !id.matched.empty())
				watch_dispatch_identity(w, &id, FOUND_CHILD);
		}
		if (++n == 1 && r == ID_OK) {
			only->pid = id.pid;
			only->start_time = id.start_time;
			only->pidfd = id.pidfd;  /* -1 once a dispatch took it */
			only->program = id.program;
			id.pidfd = -1;
		}
		if (n == 2 && only->pidfd >= 0) {
			close(only->pidfd);
			only->pidfd = -1;
		}
		if (r == ID_OK && id.pidfd >= 0)
			close(id.pidfd);
	}
	if (n != 1) {
		only->pid = 0;
		only->start_time = 0;
	}
	return n;
}

static void dir_retry_cb(uv_timer_t *t);
static int dir_watch_start(struct watch *w);

static void
dir_lost(struct watch *w)
{
	if (w->dir_watching) {
		uv_fs_event_stop(&w->dir_event);
		w->dir_watching = false;
	}
	log_event(LOG_WARN, "pid file directory is gone; looking for it again",
	    {{"directory", w->dir}, {"interval_ms", (unsigned long long)w->s->poll_interval_ms}});
	uv_timer_start(&w->dir_retry, dir_retry_cb, w->s->poll_interval_ms, w->s->poll_interval_ms);
}

static void
dir_event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct watch *w = (struct watch *)h->data;
	struct stat st;

	(void)events;
	if (w->done)
		return;
	if (status < 0) {
		log_event(LOG_WARN, "watching the pid file's directory failed",
		    {{"directory", w->dir}, {"error", uv_strerror(status)}});
		dir_lost(w);
		return;
	}
	if (filename == NULL || w->base == filename ||
	    w->base + ".oldbin" == filename || w->base + ".2" == filename) {
		pidwatch_refresh(w);
		return;
	}
	/* Events about the directory itself (deleted, moved) carry its own
	 * name; inotify drops the watch then, or follows the inode where it
	 * was moved. */
	if (stat(w->dir.c_str(), &st) < 0) {
		dir_lost(w);
		return;
	}
	/* The name is a directory's again: made anew before we looked (rm
	 * -rf, mkdir), even with the same inode number, it is not the one
	 * watched.  Watch the name afresh and catch up. */
	if (path_basename(w->dir) == filename) {
		uv_fs_event_stop(&w->dir_event);
		w->dir_watching = false;
		if (dir_watch_start(w) != 0) {
			dir_lost(w);
			return;
		}
		log_event(LOG_INFO, "watching the pid file's directory again", {{"directory", w->dir}});
		pidwatch_refresh(w);
	}
}

static int
dir_watch_start(struct watch *w)
{
	int r = uv_fs_event_start(&w->dir_event, dir_event_cb, w->dir.c_str(), 0);
	w->dir_watching = r == 0;
	return r;
}

static void
dir_retry_cb(uv_timer_t *t)
{
	struct watch *w = (struct watch *)t->data;

	if (dir_watch_start(w) != 0) {
		/* No watch (the directory is gone, or inotify refuses one:
		 * ENOSPC once max_user_watches is reached): this timer is
		 * all that sees a new pid file meanwhile. */
		w->rereading = true;
		pidwatch_refresh(w);
		w->rereading = false;
		return;
	}
	uv_timer_stop(&w->dir_retry);
	log_event(LOG_INFO, "watching the pid file's directory again", {{"directory", w->dir}});
	pidwatch_refresh(w);
}

void
watch_pidfile(struct watch *w)
{
	int r = dir_watch_start(w);

	if (r != 0) {
		log_event(LOG_WARN, "cannot watch the pid file's directory",
		    {{"directory", w->dir}, {"error", uv_strerror(r)}});
		uv_timer_start(&w->dir_retry, dir_retry_cb, w->s->poll_interval_ms,
		    w->s->poll_interval_ms);
	}
	/* The daemon may have written it before the watch began. */
	pidwatch_refresh(w);
}

/*
 * The last close of an inotify instance with a watch waits for a kernel
 * SRCU grace period (fsnotify_destroy_group waits for the mark reaper,
 * fs/notify/group.c and fs/notify/mark.c): 4 to 25 ms on Linux 6.18.  At
 * exit the kernel closes our descriptors before it tells the parent
 * (do_exit: exit_files, then exit_notify, kernel/exit.c), so a supervisor
 * would wait that long for the daemon's fate.  Instead the instance is
 * put in flight on a socket pair of our own, in a datagram that also
 * carries the receiving socket: at exit only that unreachable cycle holds
 * it, and the unix socket garbage collector, which runs in a kernel worker
 * (net/unix/garbage.c, since Linux 6.10), frees it there.  On older
 * kernels the collection runs in our exit and costs what the close did.
 * Nothing is lost on failure: the instance is then closed at exit.  Not
 * done once at the start, which would take it off the exit path: while a
 * unix socket is in flight, every unix socket released anywhere on the
 * machine queues a run of that collector (one per close, counted with the
 * workqueue_queue_work tracepoint), for as long as the wrapper runs.
 */
void
pidwatch_leave(struct watch *w)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m;
	struct cmsghdr *c;
	struct iovec iov;
	char byte = 0;
	int sv[2], fds[2];

	if (w->loop->inotify_fd < 0)
		return;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	memset(&m, 0, sizeof m);
	memset(&u, 0, sizeof u);
	iov.iov_base = &byte;
	iov.iov_len = 1;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof u.buf;
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	fds[0] = w->loop->inotify_fd;
	fds[1] = sv[1];
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	/* Both ends stay open until exit: the closing of sv[0] is what
	 * starts the collection. */
	(void)sendmsg(sv[0], &m, MSG_NOSIGNAL);
}
