/*
 * descendants.cc: stopping what the daemon left behind, by pidfd, and
 * reaping it before the wrapper exits (descendants.h; doc/DESIGN.md,
 * "Stops").
 */
#include "descendants.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "log.h"
#include "proc.h"

/* How often to look again while stopping them: deaths deeper than our
 * children and new processes send us no SIGCHLD. */
#define RESCAN_MS 100
/* After KILL, how long at least before giving up on what is left. */
#define GIVE_UP_MS 5000

void
descendants_init(struct descendants *d, uv_loop_t *loop)
{
	d->loop = loop;
	d->stopping = false;
	d->killing = false;
	d->kill_ms = 0;
	d->reap = NULL;
	d->done = NULL;
	d->arg = NULL;
	uv_timer_init(loop, &d->rescan);
	d->rescan.data = d;
	uv_timer_init(loop, &d->deadline);
	d->deadline.data = d;
}

std::string
pid_list(const std::vector<pid_t> &pids, size_t max)
{
	std::string out;

	for (size_t i = 0; i < pids.size() && i < max; i++) {
		if (i > 0)
			out += ",";
		out += std::to_string((long)pids[i]);
	}
	return out;
}

/* Signal l through its pidfd; without one (Linux before 5.3), by pid once
 * /proc still shows its start time: a narrow race, as for generations
 * (doc/DESIGN.md, "Which kernel gives what"). */
static int
signal_left(const struct leftover *l, int sig)
{
	struct proc_stat st;

	if (l->pidfd >= 0)
		return pidfd_signal(l->pidfd, sig);
	if (proc_read_stat(l->pid, &st) < 0 || st.start_time != l->start_time)
		return -ESRCH;
	return kill(l->pid, sig) < 0 ? -errno : 0;
}

/* Is this pinned process still running (not a zombie)? */
static bool
running(const struct leftover *l)
{
	struct proc_stat st;

	if (signal_left(l, 0) != 0)
		return false;
	/* Until it is reaped its pid is not reused: /proc is still its. */
	return proc_read_stat(l->pid, &st) == 0 && st.start_time == l->start_time &&
	    st.state != 'Z' && st.state != 'X';
}

static struct leftover *
known(struct descendants *d, pid_t pid)
{
	for (struct leftover &l : d->procs)
		if (l.pid == pid && signal_left(&l, 0) == 0)
			return &l;
	return NULL;
}

/* Drop the pinned processes that are gone for good (reaped). */
static void
forget_dead(struct descendants *d)
{
	for (size_t i = 0; i < d->procs.size();) {
		if (signal_left(&d->procs[i], 0) == -ESRCH) {
			if (d->procs[i].pidfd >= 0)
				close(d->procs[i].pidfd);
			d->procs.erase(d->procs.begin() + (long)i);
		} else {
			i++;
		}
	}
}

static void
send_stop(struct descendants *d, const struct leftover *l)
{
	if (d->killing) {
		signal_left(l, SIGKILL);
		return;
	}
	signal_left(l, SIGTERM);
	signal_left(l, SIGCONT);
}

/* Pin pid, found below a process of parents (or below us): the pidfd
 * first, then /proc says it still has such a parent (else the pid went to
 * a stranger meanwhile), then signal 0 through the pidfd says /proc was
 * about that very process.  Returns the new entry, or NULL. */
static struct leftover *
pin(struct descendants *d, pid_t pid, const std::vector<pid_t> &parents)
{
	struct leftover l;
	struct proc_stat st;
	int fd;

	if (known(d, pid) != NULL)
		return NULL;
	/* Gone: nothing to pin.  Without a pidfd (a kernel without them,
	 * or no descriptor left: EMFILE with hundreds of leftovers), by pid
	 * and start time, as generations are then; a leftover not pinned
	 * would never be signalled, only waited for. */
	if ((fd = pidfd_open_pid(pid)) == -ESRCH)
		return NULL;
	if (proc_read_stat(pid, &st) < 0 ||
	    std::find(parents.begin(), parents.end(), st.ppid) == parents.end() ||
	    (fd >= 0 && pidfd_signal(fd, 0) != 0)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	l.pid = pid;
	l.start_time = st.start_time;
	l.pidfd = fd >= 0 ? fd : -1;
	d->procs.push_back(l);
	return &d->procs.back();
}

/* Pin every descendant of root; each new one gets the stop when one is
 * under way.  Returns what /proc listed (zombies included). */
static std::vector<pid_t>
pin_all(struct descendants *d, pid_t root)
{
	std::vector<pid_t> found = proc_descendants(root);
	std::vector<pid_t> parents = found;

	parents.push_back(root);
	/* Re-parented to us meanwhile: its parent died. */
	parents.push_back(getpid());
	for (pid_t pid : found) {
		struct leftover *l = pin(d, pid, parents);
		if (l == NULL)
			continue;
		if (d->stopping) {
			log_event(LOG_DEBUG, "stopping a process the daemon left",
			    {{"process", (long)pid}, {"signal", d->killing ? "SIGKILL" : "SIGTERM"}});
			send_stop(d, l);
		}
	}
	return found;
}

void
descendants_pin(struct descendants *d, pid_t root)
{
	std::vector<pid_t> ours = proc_descendants(getpid());

	/* Our descendant's descendants come to us anyway: no pidfds held
	 * for them (a Gitaly stopping may have hundreds of git children). */
	if (std::find(ours.begin(), ours.end(), root) != ours.end())
		return;
	pin_all(d, root);
}

/* The live (not zombie) ones now: the wrapper's descendants and, with
 * pinned, those pinned that still run. */
static std::vector<pid_t>
descendants_live(struct descendants *d, bool pinned)
{
	std::vector<pid_t> out;

	for (pid_t pid : proc_descendants(getpid())) {
		struct proc_stat st;
		if (proc_read_stat(pid, &st) == 0 && st.state != 'Z' && st.state != 'X')
			out.push_back(pid);
	}
	if (!pinned)
		return out;
	forget_dead(d);
	for (const struct leftover &l : d->procs)
		if (std::find(out.begin(), out.end(), l.pid) == out.end() && running(&l))
			out.push_back(l.pid);
	return out;
}

static void
end(struct descendants *d)
{
	uv_timer_stop(&d->rescan);
	uv_timer_stop(&d->deadline);
	d->stopping = false;
	for (const struct leftover &l : d->procs)
		if (l.pidfd >= 0)
			close(l.pidfd);
	d->procs.clear();
	d->done(d->arg);
}

void
descendants_rescan(struct descendants *d)
{
	size_t left = 0;

	if (!d->stopping)
		return;
	d->reap(d->arg);
	forget_dead(d);
	/* Ours, zombies included: a zombie below a live descendant is its
	 * parent's to reap, and one of our children is reaped above. */
	std::vector<pid_t> ours = pin_all(d, getpid());
	left = ours.size();
	/* Pinned at the stop's start and not ours (an adopted daemon's). */
	for (const struct leftover &l : d->procs)
		if (std::find(ours.begin(), ours.end(), l.pid) == ours.end() && running(&l))
			left++;
	if (left == 0)
		end(d);
}

static void
rescan_cb(uv_timer_t *t)
{
	descendants_rescan((struct descendants *)t->data);
}

/* Their time is up: KILL to each, those found later too. */
static void
kill_all(struct descendants *d)
{
	d->killing = true;
	std::vector<pid_t> live = descendants_live(d, true);
	log_event(LOG_WARN, "killing the processes the daemon left",
	    {{"count", (unsigned long)live.size()}, {"processes", pid_list(live, 10)}});
	for (const struct leftover &l : d->procs)
		signal_left(&l, SIGKILL);
}

static void
deadline_cb(uv_timer_t *t)
{
	struct descendants *d = (struct descendants *)t->data;

	if (d->killing) {
		/* KILL went out a while ago: what is left cannot die now (a
		 * process in uninterruptible sleep).  Do not wait for ever. */
		log_event(LOG_WARN, "processes the daemon left would not die; leaving them",
		    {{"processes", pid_list(descendants_live(d, true), 10)}});
		end(d);
		return;
	}
	kill_all(d);
	uv_timer_start(&d->deadline, deadline_cb, std::max<uint64_t>(d->kill_ms, GIVE_UP_MS), 0);
	descendants_rescan(d);
}

static void
stop_all(struct descendants *d, uint64_t kill_ms, void (*reap)(void *),
    void (*done)(void *), void *arg)
{
	d->reap = reap;
	d->done = done;
	d->arg = arg;
	d->kill_ms = kill_ms;
	d->stopping = true;
	d->killing = false;
	/* The pinned ones now; new ones as pin_all finds them. */
	if (kill_ms == 0) {
		kill_all(d);
	} else {
		forget_dead(d);
		for (const struct leftover &l : d->procs)
			if (running(&l))
				send_stop(d, &l);
	}
	uv_timer_start(&d->rescan, rescan_cb, RESCAN_MS, RESCAN_MS);
	uv_timer_start(&d->deadline, deadline_cb, kill_ms == 0 ? GIVE_UP_MS : kill_ms, 0);
	descendants_rescan(d);
}

void
descendants_end(struct descendants *d, bool stop, uint64_t kill_ms, void (*reap)(void *),
    void (*done)(void *), void *arg)
{
	std::vector<pid_t> live = descendants_live(d, stop);

	if (live.empty()) {
		done(arg);
	} else if (!stop) {
		log_event(LOG_WARN, "leaving the processes the daemon left",
		    {{"count", (unsigned long)live.size()}, {"processes", pid_list(live, 10)}});
		done(arg);
	} else {
		log_event(LOG_WARN, "stopping the processes the daemon left",
		    {{"count", (unsigned long)live.size()}, {"processes", pid_list(live, 10)},
		    {"kill_after_ms", (unsigned long long)kill_ms}});
		stop_all(d, kill_ms, reap, done, arg);
	}
}
