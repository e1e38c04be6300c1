#!/bin/bash
# systemd-boot.sh: a real systemd as PID 1 in throwaway namespaces, for
# test/integration/systemd_test.cc.  Needs root and a writable cgroup2
# hierarchy; boots in well under a second.
#
#   script -qfec "systemd-boot.sh run DIR [RO_DIR...]" DIR/console
#       Boot systemd with the units in DIR/units (only those), and stay until
#       it exits; then remove what the boot made.  DIR (the test's own
#       directory) is writable inside, every RO_DIR (the built programs)
#       read-only at the same path; the rest of the host's root file system
#       is there read-only.  The console (systemd's log) must be a tty, hence
#       script(1).  DIR/boot/pid1 then holds systemd's pid (as the host sees
#       it), DIR/boot/cgroup the host path of the cgroup everything runs in.
#   systemd-boot.sh ctl DIR ARGS...
#       systemctl ARGS inside (nsenter(1) into every namespace of PID 1).
#   systemd-boot.sh stop DIR
#       Shut down (systemctl --force exit), or kill everything if that does
#       not end it soon, and remove the cgroups.  Safe to repeat, and to call
#       when the boot failed half-way.
#
# The shape, and the reasons:
# - The run's cgroup, a child of the cgroup this script runs in, is named by
#   the pid of the "run" shell and the time: runs from other worktrees never
#   share one.  The shell moves itself there, then runs unshare(1) with a new
#   cgroup namespace, rooted there (cgroup_namespaces(7)); unshare itself is
#   moved back out at once, so that systemd finds nothing but itself in its
#   root cgroup (it would log "Couldn't move remaining userspace processes",
#   src/core/cgroup.c).  The "inner" step waits on a FIFO for that move.
# - New PID, mount, UTS, IPC, network and cgroup namespaces; --kill-child and
#   a parent-death signal at every link (the test, script, this shell,
#   unshare): whichever dies, systemd is killed and its PID namespace with it
#   (pid_namespaces(7)).  The mounts are private to the mount namespace and
#   vanish with it.  Only the cgroup directories outlive a killed run: "run"
#   and "stop" remove them, and every boot first removes the empty ones left
#   by runs whose shell is gone.
# - Inside: a read-only bind of the host's root, tmpfs on /run and /tmp, a
#   fresh sysfs and cgroup2 at /sys/fs/cgroup, /proc/sys read-only (systemd
#   raises fs.file-max and fs.nr_open otherwise: src/core/main.c,
#   bump_file_max_and_nr_open), a private /dev whose console is script's pty,
#   then pivot_root(2).
# - systemd runs with CAP_SYS_MODULE (and SYS_TIME, SYS_RAWIO) dropped from
#   its bounding set, or it loads autofs4 and friends into the host's kernel
#   (src/core/kmod-setup.c); $container set, so that it behaves as in a
#   container (systemd's docs/CONTAINER_INTERFACE.md); SYSTEMD_UNIT_PATH
#   naming the test's units alone and empty generator directories
#   (src/basic/path-lookup.c); --unit=test.target, a target that pulls in
#   nothing.  The units need DefaultDependencies=no: there is no
#   sysinit.target nor basic.target here.
set -u

die() { echo "systemd-boot.sh: $*" >&2; exit 1; }

# The cgroup2 mount point and this process's cgroup under it.
cgroup2_mount() {
	# proc_pid_mountinfo(5): optional fields, then "-", then the type.
	awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "cgroup2" && $4 == "/") { print $5; exit } }' \
	    /proc/self/mountinfo
}
own_cgroup() {
	sed -n 's/^0:://p' /proc/self/cgroup
}

# Wait (up to $2 polls, 20 ms apart) until the process $1 is gone.
wait_gone() {
	local n=0
	while [ -e "/proc/$1" ] && [ "$n" -lt "$2" ]; do
		sleep 0.02
		n=$((n + 1))
	done
	[ ! -e "/proc/$1" ]
}

# Remove the cgroup tree $1, deepest first, once nothing runs in it (up to
# 10 s); kill what still runs there after 5 s (cgroup.kill, Linux 5.14).
remove_cgroup() {
	local cg=$1 n=0
	[ -d "$cg" ] || return 0
	while grep -q '^populated 1' "$cg/cgroup.events" 2>/dev/null; do
		n=$((n + 1))
		[ "$n" -ne 250 ] || echo 1 >"$cg/cgroup.kill" 2>/dev/null
		[ "$n" -lt 500 ] || break
		sleep 0.02
	done
	find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	[ ! -d "$cg" ] || { echo "systemd-boot.sh: cannot remove $cg" >&2; return 1; }
}

# Cgroups of earlier runs whose shell is gone (a test killed half-way).
sweep_stale() {
	local parent=$1 cg pid
	for cg in "$parent"/pidsitter-systemd-*; do
		[ -d "$cg" ] || continue
		pid=${cg##*/pidsitter-systemd-}
		pid=${pid%%-*}
		[ -e "/proc/$pid" ] && continue
		grep -q '^populated 1' "$cg/cgroup.events" 2>/dev/null && continue
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	done
}

# A boot that went wrong before systemd ran: kill unshare $1 (its child
# dies with it), remove the cgroup $2, say $3 and exit.
abandon() {
	kill -KILL "$1" 2>/dev/null
	wait "$1"
	remove_cgroup "$2"
	die "$3"
}

cmd_run() {
	local dir=$1 mnt own parent cg upid pid1 n rc console
	shift
	[ "$(id -u)" = 0 ] || die "must run as root"
	console=$(tty) || die "standard input is not a tty (run it under script -qfec)"
	mnt=$(cgroup2_mount)
	[ -n "$mnt" ] || die "no cgroup2 hierarchy is mounted"
	own=$(own_cgroup)
	parent=$mnt${own%/}
	[ -w "$parent/cgroup.procs" ] || die "$parent is not writable"
	sweep_stale "$parent"
	cg=$parent/pidsitter-systemd-$$-$(date +%s%N)
	mkdir -p "$dir/boot" || die "cannot make $dir/boot"
	rm -f "$dir/boot/go" "$dir/boot/pid1"
	mkfifo "$dir/boot/go" || die "cannot make $dir/boot/go"
	mkdir "$cg" || die "cannot make the cgroup $cg"
	echo "$cg" >"$dir/boot/cgroup"

	# Every way out removes the cgroup; a hangup (script killed) or TERM
	# kills systemd first.
	trap 'stop_pid1 "$dir"; remove_cgroup "$cg"; exit 1' HUP TERM INT

	# (The console given explicitly: an asynchronous command's standard
	# input is otherwise /dev/null.)
	(
		echo "$BASHPID" >"$cg/cgroup.procs" || exit 1
		exec setpriv --pdeathsig KILL unshare --pid --fork --kill-child --mount \
		    --uts --ipc --net --cgroup --mount-proc "$BASH" "$0" inner "$dir" "$@"
	) <"$console" &
	upid=$!
	# Move unshare out once it has forked the inner step.
	n=0
	pid1=
	# (the file has no size for test -s, nor a newline for read)
	until pid1=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null) && [ -n "$pid1" ]; do
		n=$((n + 1))
		if [ "$n" -gt 3000 ] || [ ! -e "/proc/$upid" ]; then
			abandon "$upid" "$cg" "unshare did not start"
		fi
		sleep 0.01
	done
	pid1=${pid1%% *}
	echo "$upid" >"$parent/cgroup.procs" ||
	    abandon "$upid" "$cg" "cannot move unshare out of $cg"
	echo "$pid1" >"$dir/boot/pid1"
	# The FIFO opened read-write, which never waits (fifo(7)), and held
	# until unshare ends: the line waits there for the inner step.  A
	# write-only open waits for a reader, for ever if the inner step died
	# before its read (unshare's mounts failed, say).
	exec 3<>"$dir/boot/go"
	echo go >&3
	wait "$upid"
	rc=$?
	exec 3>&-
	remove_cgroup "$cg"
	exit "$rc"
}

# PID 1 of the new namespaces: make the new root, then become systemd.
cmd_inner() {
	local dir=$1 r console d
	shift
	read -r _ <"$dir/boot/go"
	console=$(tty) || die "no tty"
	r=$dir/boot/root
	mkdir -p "$r" || exit 1
	set -e
	mount --make-rprivate /
	mount --bind / "$r"
	mount -o remount,bind,ro "$r"
	mount -t tmpfs -o mode=755 tmpfs "$r/run"
	mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
	for d in "$@"; do
		mkdir -p "$r$d"
		mount --bind "$d" "$r$d"
		mount -o remount,bind,ro "$r$d"
	done
	mkdir -p "$r$dir"
	mount --bind "$dir" "$r$dir"
	mount -t sysfs -o ro sysfs "$r/sys"
	mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
	mount -t proc proc "$r/proc"
	mount --bind "$r/proc/sys" "$r/proc/sys"
	mount -o remount,bind,ro "$r/proc/sys"
	mount -t tmpfs -o mode=755,nosuid tmpfs "$r/dev"
	for d in null zero full random urandom tty; do
		touch "$r/dev/$d"
		mount --bind "/dev/$d" "$r/dev/$d"
	done
	touch "$r/dev/console"
	mount --bind "$console" "$r/dev/console"
	mkdir "$r/dev/pts" "$r/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$r/dev/pts"
	ln -s pts/ptmx "$r/dev/ptmx"
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
	ln -s /proc/self/fd "$r/dev/fd"
	ln -s /proc/self/fd/0 "$r/dev/stdin"
	ln -s /proc/self/fd/1 "$r/dev/stdout"
	ln -s /proc/self/fd/2 "$r/dev/stderr"
	mkdir -p "$r/run/systemd-boot/generators" "$r/run/systemd/journald.conf.d"
	# journald keeps its journal in /run (journald.conf(5)).
	printf '[Journal]\nStorage=volatile\n' >"$r/run/systemd/journald.conf.d/test.conf"
	cd "$r"
	pivot_root . .
	umount -l .
	set +e
	exec </dev/console >/dev/console 2>&1
	exec setpriv --bounding-set -sys_module,-sys_time,-sys_rawio \
	    env -i container=pidsitter-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    SYSTEMD_UNIT_PATH="$dir/units" \
	    SYSTEMD_GENERATOR_PATH=/run/systemd-boot/generators \
	    SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/systemd-boot/generators \
	    /lib/systemd/systemd --system --unit=test.target \
	    --log-target=console --show-status=no
}

cmd_ctl() {
	local dir=$1 pid1
	shift
	pid1=$(cat "$dir/boot/pid1" 2>/dev/null) || die "not booted: no $dir/boot/pid1"
	exec nsenter -t "$pid1" -a systemctl "$@"
}

# Kill PID 1 (the namespace dies with it) if a clean exit does not end it.
stop_pid1() {
	local dir=$1 pid1
	pid1=$(cat "$dir/boot/pid1" 2>/dev/null) || return 0
	[ -e "/proc/$pid1" ] || return 0
	timeout 10 nsenter -t "$pid1" -a systemctl --force exit 0 >/dev/null 2>&1
	wait_gone "$pid1" 500 && return 0
	kill -KILL "$pid1" 2>/dev/null
	wait_gone "$pid1" 500
}

cmd_stop() {
	local dir=$1 cg
	stop_pid1 "$dir"
	cg=$(cat "$dir/boot/cgroup" 2>/dev/null) || return 0
	remove_cgroup "$cg"
}

[ $# -ge 2 ] || die "usage: systemd-boot.sh run|inner|ctl|stop DIR [ARGS...]"
verb=$1
shift
case $verb in
run) cmd_run "$@" ;;
inner) cmd_inner "$@" ;;
ctl) cmd_ctl "$@" ;;
stop) cmd_stop "$@" ;;
*) die "unknown verb '$verb'" ;;
esac
