// Command gwmodel is a model of gitaly-wrapper's algorithm, written for
// pidsitter's benchmark (bench/bench.cc) from the behaviour of gitaly-wrapper
// (Gitaly's cmd/gitaly-wrapper) listed below. It is NOT GitLab's binary and shares no code with
// it: it reproduces what the wrapper does, step by step, with the Go
// standard library only, so that the benchmark can measure the algorithm
// (the 1 s kill(pid, 0) poll above all) next to pidsitter on the same
// machine and toolchain.
//
//	GITALY_PID_FILE=/path/gitaly.pid gwmodel BINARY [ARGS...]
//
// What is modelled, on purpose, including the known defects:
//   - logs to stdout, logrus text format (JSON when WRAPPER_JSON_LOGGING
//     parses as a Go bool and is true), UTC timestamps with milliseconds,
//     every line with pid= and (after start-up) wrapper=;
//   - the pid file is read whole and parsed with strconv.Atoi, no trimming
//     ("123\n" does not parse: the wrapper spawns a duplicate);
//   - liveness is kill(pid, 0): a zombie is alive, EPERM is dead;
//   - identity is basename(comm) == basename(BINARY), comm being the
//     kernel's name cut to 15 bytes (gitaly asks `ps -o comm=`; we read
//     /proc/PID/comm, which is the same string), so a binary whose name is
//     16 bytes or longer is never adopted;
//   - a spawned child gets the environment plus GITALY_UPGRADES_ENABLED=true
//     and the wrapper's stdin, stdout and stderr;
//   - every signal is forwarded to the one PID found at start (SIGURG, the Go
//     runtime's preemption signal, excepted; SIGCHLD included);
//   - kill(pid, 0) every second, the pid file is never read again, and the
//     wrapper exits 0 when the process is gone, whatever its status.
//
// One deliberate difference: signal.Notify is called just before the
// "monitoring process" line rather than just after it. The benchmark uses
// that line as "the wrapper is ready for signals"; a Go program that gets a
// signal it has not asked for yet dies of it. No figure depends on the
// microseconds between the two calls.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	envPidFile         = "GITALY_PID_FILE"
	envUpgradesEnabled = "GITALY_UPGRADES_ENABLED"
	envJSONLogging     = "WRAPPER_JSON_LOGGING"
)

// logger writes one line per event in the shape logrus gives gitaly: time,
// level and msg first, then the fields sorted by key.
type logger struct {
	json   bool
	fields map[string]interface{}
}

var logMu sync.Mutex

func (l logger) with(key string, value interface{}) logger {
	f := make(map[string]interface{}, len(l.fields)+1)
	for k, v := range l.fields {
		f[k] = v
	}
	f[key] = value
	return logger{json: l.json, fields: f}
}

func (l logger) withError(err error) logger { return l.with("error", err.Error()) }

// needsQuoting follows logrus's TextFormatter: bare only when every byte is
// a letter, a digit or one of -._/@^+.
func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for _, c := range s {
		ok := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || strings.ContainsRune("-._/@^+", c)
		if !ok {
			return true
		}
	}
	return false
}

func textValue(v interface{}) string {
	s := fmt.Sprint(v)
	if needsQuoting(s) {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func (l logger) log(level, msg string) {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	var line []byte
	if l.json {
		m := make(map[string]interface{}, len(l.fields)+3)
		for k, v := range l.fields {
			m[k] = v
		}
		m["time"] = now
		m["level"] = level
		m["msg"] = msg
		b, err := json.Marshal(m) // encoding/json sorts map keys
		if err != nil {
			b = []byte(fmt.Sprintf(`{"level":"error","msg":%q}`, err.Error()))
		}
		line = append(b, '\n')
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "time=%s level=%s msg=%s", textValue(now), level, textValue(msg))
		keys := make([]string, 0, len(l.fields))
		for k := range l.fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, textValue(l.fields[k]))
		}
		b.WriteByte('\n')
		line = []byte(b.String())
	}
	logMu.Lock()
	os.Stdout.Write(line)
	logMu.Unlock()
}

func (l logger) info(msg string)  { l.log("info", msg) }
func (l logger) warn(msg string)  { l.log("warning", msg) }
func (l logger) error(msg string) { l.log("error", msg) }
func (l logger) fatal(msg string) { l.log("fatal", msg); os.Exit(1) }

// jsonLogging: Go bool semantics, anything unparsable is false.
func jsonLogging() bool {
	b, err := strconv.ParseBool(os.Getenv(envJSONLogging))
	return err == nil && b
}

func main() {
	log := logger{json: jsonLogging()}.with("pid", os.Getpid())

	if len(os.Args) < 2 {
		log.fatal(fmt.Sprintf("usage: %s forking_binary [args]", os.Args[0]))
	}
	binary, arguments := os.Args[1], os.Args[2:]

	log = log.with("wrapper", os.Getpid())
	log.info("Wrapper started")

	pidFile := os.Getenv(envPidFile)
	if pidFile == "" {
		log.fatal(fmt.Sprintf("missing pid file ENV variable %q", envPidFile))
	}

	log.with("pid_file", pidFile).info("finding process")
	process, err := findProcess(pidFile)
	if err != nil && !isRecoverable(err) {
		log.withError(err).fatal("find process")
	} else if err != nil {
		log.withError(err).error("find process")
	}

	if process != nil && isExpectedProcess(process, binary) {
		log.info("adopting a process")
	} else {
		log.info("spawning a process")
		process, err = spawnProcess(log, binary, arguments)
		if err != nil {
			log.withError(err).fatal("spawn gitaly")
		}
	}

	log = log.with("process", process.Pid)
	forwardSignals(process, log)
	log.info("monitoring process")

	for isAlive(process) {
		time.Sleep(1 * time.Second)
	}
	log.error("wrapper for process shutting down")
}

// isRecoverable: a missing pid file or text that is not a number means
// "spawn"; any other read error is fatal.
func isRecoverable(err error) bool {
	var numErr *strconv.NumError
	return errors.Is(err, os.ErrNotExist) || errors.As(err, &numErr)
}

func findProcess(path string) (*os.Process, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pid, err := strconv.Atoi(string(data)) // no trimming, as gitaly
	if err != nil {
		return nil, err
	}
	p, err := os.FindProcess(pid) // never fails on Unix
	if err != nil {
		return nil, err
	}
	if isAlive(p) {
		return p, nil
	}
	return nil, nil
}

// isExpectedProcess compares the basename of the process's comm (at most 15
// bytes, as the kernel keeps it) with the basename of the binary.
func isExpectedProcess(p *os.Process, binary string) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid))
	if err != nil {
		return false
	}
	return filepath.Base(strings.TrimSpace(string(comm))) == filepath.Base(binary)
}

func spawnProcess(log logger, bin string, args []string) (*os.Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), envUpgradesEnabled+"=true")
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Reap the child, otherwise kill(pid, 0) would find its zombie alive
	// forever. The status is only logged.
	go func() {
		if err := cmd.Wait(); err != nil {
			log.withError(err).error("supervised process exited")
		}
	}()
	return cmd.Process, nil
}

func forwardSignals(p *os.Process, log logger) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs) // every signal
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGURG {
				continue // the Go runtime's own preemption signal
			}
			l := log.with("signal", sig)
			l.warn("forwarding signal")
			if err := p.Signal(sig); err != nil {
				l.withError(err).error("can't forward the signal")
			}
		}
	}()
}

// isAlive is kill(pid, 0). Once cmd.Wait has reaped a spawned child,
// os.Process knows it is done and says so without a system call.
func isAlive(p *os.Process) bool {
	return p.Signal(syscall.Signal(0)) == nil
}
