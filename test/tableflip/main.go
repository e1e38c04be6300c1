// Command tableflip-daemon is a small but real github.com/cloudflare/tableflip
// daemon used by pidsitter's integration tests. It upgrades itself exactly the
// way gitaly and praefect do (SIGHUP -> Upgrader.Upgrade(), the new process
// writes the pid file through tableflip and becomes ready, the old one drains
// and exits), and it writes every event to a record file so that tests can
// tell which process received what.
//
// Build (no network, no go.mod; the Debian package provides tableflip):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=/tmp/gocache go build -o OUT .
//
// or ./build.sh OUT.
//
// Flags (every generation is started with the same argv and environment,
// because tableflip re-executes os.Args[0] with os.Args[1:] and the current
// environment plus TABLEFLIP_HAS_PARENT_7DIU3=yes):
//
//	-pid-file PATH          required; tableflip.Options.PIDFile. Written by
//	                        Upgrader.Ready() (temp file + rename) in every
//	                        generation, including the first one.
//	-listen ADDR            TCP address, default 127.0.0.1:0. Obtained through
//	                        upg.Fds.Listen so it is inherited across upgrades
//	                        (the port chosen for :0 is kept). Each connection
//	                        gets "<pid>\n" and is closed.
//	-record PATH            optional event log, see below.
//	-drain DURATION         default 200ms: how long the old process lives on
//	                        after a successful upgrade before exiting 0.
//	-ready-delay DURATION   default 0: sleep before calling Ready() (every
//	                        generation, the first one included).
//	-fail-upgrade           an upgraded child (HasParent) exits 3 instead of
//	                        becoming ready. Same as env TFD_FAIL_UPGRADE=1.
//	-fail-upgrade-file PATH an upgraded child exits 3 instead of becoming
//	                        ready if PATH exists when it checks (after
//	                        -ready-delay). Lets a test make only a later
//	                        upgrade fail, since argv/env can't change.
//	-exit-code N            default 0: exit status after SIGTERM/SIGINT/SIGQUIT
//	                        (also during the drain).
//	-upgrade-timeout DUR    default 5s: tableflip.Options.UpgradeTimeout, after
//	                        which the parent SIGKILLs a child that is not ready.
//	-sd-notify              after Ready(), tell $NOTIFY_SOCKET READY=1 through
//	                        go-systemd's daemon.SdNotify (Debian's
//	                        golang-github-coreos-go-systemd-dev); an upgraded
//	                        child says MAINPID=<its pid> with it. Records
//	                        "sd-notify <ok|none|error>".
//	-no-pid-file            no tableflip.Options.PIDFile: only -sd-notify's
//	                        MAINPID tells a supervisor of a new generation.
//	-sd-watchdog DURATION   default 0 (none): WATCHDOG=1 every DURATION once
//	                        ready.
//	-sd-watchdog-stop-file PATH
//	                        at each watchdog tick, if PATH exists, stop
//	                        pinging for good (a hung daemon, as systemd's
//	                        WatchdogSec= sees it) and record
//	                        "watchdog-stopped". Every generation checks it.
//	-catch-abrt             SIGABRT is caught and recorded like the others
//	                        (by default the Go runtime dies of it with a
//	                        goroutine dump): a daemon that outlives
//	                        systemd's watchdog signal.
//	-sd-ready-delay DURATION
//	                        default 0: wait this long after Ready() (the pid
//	                        file is written) before READY=1 (every
//	                        generation); the daemon serves and takes signals
//	                        meanwhile. Records "sd-notify-sending" just
//	                        before the datagram goes out.
//
// Exit statuses: -exit-code after TERM/INT/QUIT, 0 after a completed drain,
// 3 for a deliberately failed upgrade, 1 for setup errors or a failed Ready(),
// 2 for bad usage. A deliberately failed child is reaped by its parent, so
// only its "exit 3" record line shows it.
//
// Name the binary 15 bytes or less if the test relies on gitaly-wrapper style
// comm matching: "tableflip-daemon" is 16 bytes, so the kernel's comm for it
// is "tableflip-daemo".
//
// Record file: opened O_WRONLY|O_APPEND|O_CREATE by every generation, one
// line per event, each line written with a single write(2) so lines from
// concurrent generations never interleave:
//
//	<pid> ready                   Ready() returned: the pid file names <pid>
//	                              and the parent (if any) has been told.
//	                              Because the parent is told inside Ready(),
//	                              the parent's "upgraded" line (and, with a
//	                              tiny -drain, even its "exit" line) can come
//	                              before this one: poll, don't assume order.
//	<pid> signal <NAME>           every caught signal, SIGHUP included; NAME
//	                              is SIGHUP, SIGUSR1, ... or SIG<number>
//	                              (real-time signals: SIG35 .. SIG64;
//	                              34 cannot be caught by Go and kills us).
//	<pid> upgrade-failed <error>  Upgrade() returned an error (the process
//	                              keeps running).
//	<pid> upgraded <newpid>       Upgrade() succeeded; the drain starts.
//	                              <newpid> is read back from the pid file
//	                              ("?" if that fails).
//	<pid> ready-failed <error>    Ready() failed (followed by exit 1).
//	<pid> exit <code>             written just before os.Exit(code).
//
// Human-readable log lines go to stderr (shared by all generations, since
// tableflip hands the child the parent's stdin/stdout/stderr).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	sd "github.com/coreos/go-systemd/daemon"
)

// signalNames is deliberately our own table: syscall.Signal.String() gives
// descriptions ("hangup"), and tests want the names a shell's kill uses.
var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP:    "SIGHUP",
	syscall.SIGINT:    "SIGINT",
	syscall.SIGQUIT:   "SIGQUIT",
	syscall.SIGILL:    "SIGILL",
	syscall.SIGTRAP:   "SIGTRAP",
	syscall.SIGABRT:   "SIGABRT",
	syscall.SIGBUS:    "SIGBUS",
	syscall.SIGFPE:    "SIGFPE",
	syscall.SIGKILL:   "SIGKILL",
	syscall.SIGUSR1:   "SIGUSR1",
	syscall.SIGSEGV:   "SIGSEGV",
	syscall.SIGUSR2:   "SIGUSR2",
	syscall.SIGPIPE:   "SIGPIPE",
	syscall.SIGALRM:   "SIGALRM",
	syscall.SIGTERM:   "SIGTERM",
	syscall.SIGSTKFLT: "SIGSTKFLT",
	syscall.SIGCHLD:   "SIGCHLD",
	syscall.SIGCONT:   "SIGCONT",
	syscall.SIGSTOP:   "SIGSTOP",
	syscall.SIGTSTP:   "SIGTSTP",
	syscall.SIGTTIN:   "SIGTTIN",
	syscall.SIGTTOU:   "SIGTTOU",
	syscall.SIGURG:    "SIGURG",
	syscall.SIGXCPU:   "SIGXCPU",
	syscall.SIGXFSZ:   "SIGXFSZ",
	syscall.SIGVTALRM: "SIGVTALRM",
	syscall.SIGPROF:   "SIGPROF",
	syscall.SIGWINCH:  "SIGWINCH",
	syscall.SIGIO:     "SIGIO",
	syscall.SIGPWR:    "SIGPWR",
	syscall.SIGSYS:    "SIGSYS",
}

func signalName(sig os.Signal) string {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return sig.String()
	}
	if name, ok := signalNames[s]; ok {
		return name
	}
	return fmt.Sprintf("SIG%d", int(s))
}

// caughtSignals lists what we ask os/signal for. It is explicit rather than
// signal.Notify(c) with no arguments because SIGCHLD, SIGURG (Go's own
// goroutine preemption signal) and SIGPIPE would flood the record file with
// noise that no test sends on purpose. Synchronous fault signals (SEGV, BUS,
// FPE, ILL, TRAP, ABRT) and SIGPROF are left to the Go runtime, too.
// SIGTSTP/SIGTTIN/SIGTTOU are caught so that the daemon is never stopped by
// them: a forwarded job-control signal must show up in the record instead.
func caughtSignals() []os.Signal {
	sigs := []os.Signal{
		syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM, syscall.SIGSTKFLT,
		syscall.SIGCONT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU,
		syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGVTALRM, syscall.SIGWINCH,
		syscall.SIGIO, syscall.SIGPWR, syscall.SIGSYS,
	}
	// Real-time signals. Go 1.19's runtime reserves 32 and 33 (glibc's
	// SIGCANCEL/SIGSETXID) and also 34 (musl's SIGSYNCCALL; Go's
	// src/runtime/sigtab_linux_generic.go): signal.Notify silently ignores them, so 34 (= glibc SIGRTMIN, what
	// `kill -RTMIN` sends) keeps its default action and KILLS this daemon
	// without a record line. Only 35..64 can be recorded.
	for s := 35; s <= 64; s++ {
		sigs = append(sigs, syscall.Signal(s))
	}
	return sigs
}

// daemon holds the little state shared between the main loop and the helper
// goroutines.
type daemon struct {
	pid     int
	pidFile string
	record  *os.File

	recordMu sync.Mutex
	// exitMu is taken and never released by exit(), so that two goroutines
	// deciding to exit at once (e.g. SIGTERM while a failing child gives up)
	// cannot both write an "exit" line.
	exitMu sync.Mutex
}

func (d *daemon) logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tableflip-daemon[%d]: %s\n", d.pid, fmt.Sprintf(format, args...))
}

// event logs to stderr and appends one line to the record file. The whole
// line goes out in one Write (one write(2) for a regular file), which with
// O_APPEND keeps lines from the old and new generation whole.
func (d *daemon) event(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	// Error texts from tableflip are single-line today; keep the record
	// one-line-per-event even if that ever changes.
	msg = strings.ReplaceAll(msg, "\n", " ")
	d.logf("%s", msg)
	if d.record == nil {
		return
	}
	d.recordMu.Lock()
	defer d.recordMu.Unlock()
	if _, err := d.record.Write([]byte(fmt.Sprintf("%d %s\n", d.pid, msg))); err != nil {
		d.logf("can't write record file: %v", err)
	}
}

func (d *daemon) exit(code int) {
	d.exitMu.Lock()
	d.event("exit %d", code)
	os.Exit(code)
}

// readPIDFile is only used to make the "upgraded" line more useful; the pid
// file was written by the child inside its Ready(), i.e. before the parent's
// Upgrade() could return nil.
func (d *daemon) readPIDFile() string {
	b, err := ioutil.ReadFile(d.pidFile)
	if err != nil || len(b) == 0 {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// serve answers every connection with our pid so a test can see which
// generation accepted it. It returns quietly once the listener is closed
// (which we do when draining).
func (d *daemon) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				d.logf("accept: %v", err)
			}
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			fmt.Fprintf(c, "%d\n", d.pid)
		}(conn)
	}
}

// What daemon.SdNotify said: sent, no socket to send to, or the error.
func sdResult(sent bool, err error) string {
	if err != nil {
		return "error"
	}
	if !sent {
		return "none"
	}
	return "ok"
}

func main() {
	pidFile := flag.String("pid-file", "", "pid file written by tableflip when ready (required)")
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (inherited across upgrades)")
	recordPath := flag.String("record", "", "append one line per event to this file")
	drain := flag.Duration("drain", 200*time.Millisecond, "how long the old process lives on after a successful upgrade")
	readyDelay := flag.Duration("ready-delay", 0, "wait this long before calling Ready()")
	failUpgrade := flag.Bool("fail-upgrade", false, "an upgraded child exits 3 instead of becoming ready (also env TFD_FAIL_UPGRADE=1)")
	failUpgradeFile := flag.String("fail-upgrade-file", "", "an upgraded child exits 3 instead of becoming ready if this file exists")
	exitCode := flag.Int("exit-code", 0, "exit status after SIGTERM/SIGINT/SIGQUIT")
	upgradeTimeout := flag.Duration("upgrade-timeout", 5*time.Second, "tableflip.Options.UpgradeTimeout")
	sdNotify := flag.Bool("sd-notify", false, "READY=1 (and MAINPID= once upgraded) to $NOTIFY_SOCKET after Ready()")
	noPIDFile := flag.Bool("no-pid-file", false, "tableflip writes no pid file")
	sdWatchdog := flag.Duration("sd-watchdog", 0, "WATCHDOG=1 to $NOTIFY_SOCKET every DURATION once ready")
	sdWatchdogStopFile := flag.String("sd-watchdog-stop-file", "", "stop pinging once this file exists")
	sdReadyDelay := flag.Duration("sd-ready-delay", 0, "wait this long after Ready() before READY=1")
	catchAbrt := flag.Bool("catch-abrt", false, "catch and record SIGABRT instead of dying of it")
	flag.Parse()

	d := &daemon{pid: os.Getpid(), pidFile: *pidFile}

	// Ask for signals before anything else: until Notify runs, SIGHUP and
	// friends still have their default action and would kill us, and a test
	// (or pidsitter) may well signal a freshly spawned process.
	sigC := make(chan os.Signal, 128)
	signal.Notify(sigC, caughtSignals()...)
	if *catchAbrt {
		signal.Notify(sigC, syscall.SIGABRT)
	}

	if (*pidFile == "" && !*noPIDFile) || flag.NArg() != 0 {
		d.logf("usage: %s -pid-file PATH [flags]", os.Args[0])
		flag.PrintDefaults()
		os.Exit(2)
	}
	if *exitCode < 0 || *exitCode > 255 {
		d.logf("-exit-code must be in 0..255")
		os.Exit(2)
	}

	if *recordPath != "" {
		f, err := os.OpenFile(*recordPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			d.logf("can't open record file: %v", err)
			os.Exit(1)
		}
		d.record = f
	}

	tfPIDFile := *pidFile
	if *noPIDFile {
		tfPIDFile = ""
	}
	upg, err := tableflip.New(tableflip.Options{
		PIDFile:        tfPIDFile,
		UpgradeTimeout: *upgradeTimeout,
	})
	if err != nil {
		d.logf("tableflip.New: %v", err)
		d.exit(1)
	}
	if upg.HasParent() {
		d.logf("started as upgraded child of pid %d", os.Getppid())
	} else {
		d.logf("started (first generation)")
	}

	ln, err := upg.Fds.Listen("tcp", *listen)
	if err != nil {
		d.logf("listen: %v", err)
		d.exit(1)
	}
	d.logf("listening on %s", ln.Addr())
	go d.serve(ln)

	// Becoming ready runs beside the signal loop so that signals arriving
	// during -ready-delay (i.e. in the middle of an upgrade, when this is the
	// child) are still recorded and TERM still works.
	readyC := make(chan error, 1)
	go func() {
		time.Sleep(*readyDelay)
		if upg.HasParent() {
			fail := *failUpgrade || os.Getenv("TFD_FAIL_UPGRADE") == "1"
			if *failUpgradeFile != "" {
				if _, err := os.Stat(*failUpgradeFile); err == nil {
					fail = true
				}
			}
			if fail {
				d.logf("failing the upgrade on purpose")
				d.exit(3)
			}
		}
		readyC <- upg.Ready()
	}()

	// Upgrade() blocks until the child is ready, has died, or timed out, so
	// each call runs in its own goroutine; concurrent calls are answered by
	// tableflip itself ("upgrade in progress"), which is behaviour the tests
	// may want to observe.
	upgradeC := make(chan error, 8)
	var drainC <-chan time.Time
	var watchdogC <-chan time.Time
	var watchdogT *time.Ticker
	var notifyC <-chan time.Time
	// READY=1 (with MAINPID= when upgraded), then the watchdog's pings.
	notifyReady := func() {
		if *sdNotify {
			state := sd.SdNotifyReady
			if upg.HasParent() {
				state = fmt.Sprintf("%s\nMAINPID=%d", state, os.Getpid())
			}
			if *sdReadyDelay > 0 {
				d.event("sd-notify-sending")
			}
			d.event("sd-notify %s", sdResult(sd.SdNotify(false, state)))
		}
		if *sdWatchdog > 0 {
			watchdogT = time.NewTicker(*sdWatchdog)
			watchdogC = watchdogT.C
		}
	}
	exitC := upg.Exit()

	for {
		select {
		case sig := <-sigC:
			d.event("signal %s", signalName(sig))
			switch sig {
			case syscall.SIGHUP:
				go func() { upgradeC <- upg.Upgrade() }()
			case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
				// Stop() makes an upgrade in flight SIGKILL its child,
				// so we never leave a half-born generation behind. The
				// upgrader goroutine closes Exit() once it has done
				// that; don't wait forever in case it is stuck.
				upg.Stop()
				select {
				case <-upg.Exit():
				case <-time.After(time.Second):
				}
				d.exit(*exitCode)
			}

		case err := <-readyC:
			readyC = nil
			if err != nil {
				// Most likely the parent died mid-upgrade. gitaly gives
				// up in that case too; the pid file already names us.
				d.event("ready-failed %v", err)
				d.exit(1)
			}
			d.event("ready")
			if *sdReadyDelay > 0 {
				notifyC = time.After(*sdReadyDelay)
			} else {
				notifyReady()
			}

		case <-notifyC:
			notifyC = nil
			notifyReady()

		case <-watchdogC:
			if *sdWatchdogStopFile != "" {
				if _, err := os.Stat(*sdWatchdogStopFile); err == nil {
					watchdogT.Stop()
					watchdogC = nil
					d.event("watchdog-stopped")
					continue
				}
			}
			sd.SdNotify(false, sd.SdNotifyWatchdog)

		case err := <-upgradeC:
			if err != nil {
				d.event("upgrade-failed %v", err)
				continue
			}
			d.event("upgraded %s", d.readPIDFile())

		case <-exitC:
			// Closed after a successful Upgrade() (Stop() also closes
			// it, but we exit straight after Stop()). tableflip only
			// closes its own dup of the listening socket, so close ours
			// too: from now on the new generation gets every
			// connection, as with a gracefully stopping gitaly.
			exitC = nil
			// In a goroutine: handing the socket to the new process
			// (os.StartProcess calls Fd()) put the shared file
			// description in blocking mode, so the serve goroutine may
			// sit in a blocking accept4 that Close() would wait for.
			go ln.Close()
			d.logf("draining for %v", *drain)
			drainC = time.After(*drain)

		case <-drainC:
			d.exit(0)
		}
	}
}
