/*
 * deb_test.cc: installing pidsitter: make install and make uninstall under
 * a DESTDIR, make dist, and the Debian package that make deb leaves in
 * build/deb/, unpacked into a scratch root and run.
 *
 * The package is built by make deb, not here (it compiles everything once
 * more): CI runs make deb before its last make check and sets
 * PIDSITTER_DEB_REQUIRED=1, so that a missing package fails there; on a
 * developer's machine without one, the test says so and passes.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <doctest/doctest.h>

#include "harness.h"
#include "service.h"

namespace {

/* A make run from a test run from make: not its jobserver's child. */
const std::vector<std::string> clean_make_env = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"};

std::string
version(void)
{
	std::string h = read_file("src/settings.h");
	const char key[] = "#define PIDSITTER_VERSION \"";
	size_t at = h.find(key);
	REQUIRE(at != std::string::npos);
	at += strlen(key);
	return h.substr(at, h.find('"', at) - at);
}

int
mode_of(const std::string &path)
{
	struct stat st;
	return lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? (int)(st.st_mode & 07777) : -1;
}

/* Regular files under dir, as paths relative to it. */
void
files_under(const std::string &dir, const std::string &rel, std::vector<std::string> *out)
{
	DIR *d = opendir(dir.c_str());
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		std::string name = e->d_name;
		struct stat st;
		if (name == "." || name == ".." || lstat((dir + "/" + name).c_str(), &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			files_under(dir + "/" + name, rel + name + "/", out);
		else
			out->push_back(rel + name);
	}
	closedir(d);
}

/* An installed pidsitter: mode 0755, and it says its version. */
void
check_installed(const std::string &bin)
{
	CHECK(mode_of(bin) == 0755);
	cmd_result v = run_cmd({bin, "-V"});
	CHECK(v.out == "pidsitter " + version() + "\n");
}

/* The examples every installation carries, and whether each is a script. */
const struct {
	const char *path;
	bool exec;
} examples[] = {
	{"gitaly.toml", false},
	{"praefect.toml", false},
	{"nginx.toml", false},
	{"gunicorn.toml", false},
	{"unicorn.toml", false},
	{"runit/gitaly/run", true},
	{"runit/gitaly/check", true},
	{"runit/gitaly/log/run", true},
	{"runit/gitaly/env/GITALY_PID_FILE", false},
	{"runit/gitaly/pidsitter.toml", false},
	{"s6/gitaly/run", true},
	{"s6/gitaly/finish", true},
	{"s6/gitaly/notification-fd", false},
	{"systemd/gitaly.service", false},
};

/* Spawn, upgrade and stop the fixture under the given pidsitter. */
void
short_scenario(const std::string &pidsitter)
{
	scene sc;
	child w;
	std::vector<std::string> argv = sc.wrapper(sc.daemon({"--drain", "50", "--exit-code", "7"}));

	argv[0] = pidsitter;
	child_start(&w, argv);
	REQUIRE_MESSAGE(child_wait_line(&w, "msg=\"monitoring process\"", 10000), child_dump(&w));
	pid_t d1 = sc.ready(10000);
	send_signal(w.pid, SIGHUP);
	REQUIRE(child_wait_line(&w, "msg=\"following new process\"", 10000));
	pid_t d2 = read_pid(sc.pidfile);
	CHECK(d2 != d1);
	/* The old generation has drained and is gone. */
	REQUIRE(child_wait_line(&w, log_msg("process exited", "exit_code=0 " +
	    log_gen(w, 1, d1)).c_str(), 10000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(child_code(&w) == 7);
	CHECK(record_count(sc.record, d2, "signal SIGTERM") == 1);
	CHECK(wait_until([&] { return sc.daemons().empty(); }, 10000));
}

}  // namespace

TEST_CASE("make install puts the binary, both man pages and the examples under DESTDIR, honouring PREFIX, BINDIR, MANDIR; make uninstall takes them away")
{
	tmp_dir dir;
	std::string root = dir / "root";
	std::string bin = build_path("pidsitter");
	std::string build = bin.substr(0, bin.rfind('/'));
	/* -o: install what make check built, whatever changed since. */
	std::vector<std::string> vars = {"DESTDIR=" + root, "PREFIX=/opt/ps", "BINDIR=/opt/ps/bin",
	    "MANDIR=/opt/ps/man", "BUILD=" + build};
	std::vector<std::string> cmd = {"/usr/bin/make", "-s", "-o", bin, "install"};
	cmd.insert(cmd.end(), vars.begin(), vars.end());
	cmd_result r = run_cmd(cmd, clean_make_env, 60000);
	CAPTURE(r.out);
	CAPTURE(r.err);
	REQUIRE(r.code == 0);

	check_installed(root + "/opt/ps/bin/pidsitter");
	CHECK(mode_of(root + "/opt/ps/man/man8/pidsitter.8") == 0644);
	CHECK(mode_of(root + "/opt/ps/man/man5/pidsitter.toml.5") == 0644);
	CHECK(read_file(root + "/opt/ps/man/man8/pidsitter.8") == read_file("man/pidsitter.8"));
	CHECK(read_file(root + "/opt/ps/man/man5/pidsitter.toml.5") == read_file("man/pidsitter.toml.5"));
	/* The whole examples/ tree, the scripts still executable. */
	std::string ex = root + "/opt/ps/share/doc/pidsitter/examples/";
	std::vector<std::string> want, got;
	files_under("examples", "", &want);
	files_under(ex, "", &got);
	std::sort(want.begin(), want.end());
	std::sort(got.begin(), got.end());
	CHECK(got == want);
	for (const auto &e : examples) {
		CAPTURE(std::string(e.path));
		CHECK(mode_of(ex + e.path) == (e.exec ? 0755 : 0644));
		CHECK(read_file(ex + e.path) == read_file(std::string("examples/") + e.path));
	}

	std::vector<std::string> un = {"/usr/bin/make", "-s", "uninstall"};
	un.insert(un.end(), vars.begin(), vars.end());
	r = run_cmd(un, clean_make_env, 60000);
	CAPTURE(r.err);
	REQUIRE(r.code == 0);
	std::vector<std::string> left;
	files_under(root, "", &left);
	CHECK(left.empty());
	for (const std::string &f : left)
		MESSAGE("left behind: " << f);

	/* The defaults: /usr/local, sbin, share/man, share/doc/pidsitter. */
	r = run_cmd({"/usr/bin/make", "-n", "-o", bin, "install", "DESTDIR=/nonexistent",
	    "BUILD=" + build}, clean_make_env, 60000);
	CAPTURE(r.out);
	CHECK(r.out.find(" /nonexistent/usr/local/sbin/pidsitter") != std::string::npos);
	CHECK(r.out.find(" /nonexistent/usr/local/share/man/man8/pidsitter.8") != std::string::npos);
	CHECK(r.out.find(" /nonexistent/usr/local/share/man/man5/pidsitter.toml.5") != std::string::npos);
	CHECK(r.out.find(" /nonexistent/usr/local/share/doc/pidsitter/examples") != std::string::npos);
	CHECK(r.out.find("strip") == std::string::npos);
}

TEST_CASE("debian/changelog gives the version the program prints")
{
	std::string cl = read_file("debian/changelog");
	REQUIRE(cl.compare(0, 11, "pidsitter (") == 0);
	CHECK(cl.substr(11, cl.find(')') - 11) == version());
}

TEST_CASE("the package from make deb installs pidsitter, both man pages and the examples, and it runs")
{
	const char *required = getenv("PIDSITTER_DEB_REQUIRED");
	bool must = required != NULL && strcmp(required, "1") == 0;
	if (access("/usr/bin/dpkg-deb", X_OK) != 0) {
		CHECK_FALSE(must);
		MESSAGE("no dpkg-deb here: the package is not checked");
		return;
	}
	cmd_result arch = run_cmd({"/usr/bin/dpkg", "--print-architecture"});
	REQUIRE(arch.code == 0);
	std::string deb = "build/deb/pidsitter_" + version() + "_" +
	    arch.out.substr(0, arch.out.find('\n')) + ".deb";
	if (access(deb.c_str(), F_OK) != 0) {
		CHECK_MESSAGE(!must, "PIDSITTER_DEB_REQUIRED=1 and no " << deb << ": run make deb");
		MESSAGE("no " << deb << " (make deb builds it): the package is not checked");
		return;
	}

	cmd_result f = run_cmd({"/usr/bin/dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"});
	CAPTURE(f.out);
	CHECK(f.out.find("Package: pidsitter\n") != std::string::npos);
	CHECK(f.out.find("Version: " + version() + "\n") != std::string::npos);
	/* debian/rules links libuv as a shared library. */
	CHECK(f.out.find("libuv1") != std::string::npos);

	tmp_dir dir;
	std::string root = dir / "root";
	cmd_result x = run_cmd({"/usr/bin/dpkg-deb", "-x", deb, root}, {}, 60000);
	CAPTURE(x.err);
	REQUIRE(x.code == 0);

	std::string bin = root + "/usr/sbin/pidsitter";
	check_installed(bin);

	/* The man pages, compressed as Debian does. */
	const struct {
		const char *path, *title;
	} pages[] = {
		{"/usr/share/man/man8/pidsitter.8.gz", ".Dt PIDSITTER 8"},
		{"/usr/share/man/man5/pidsitter.toml.5.gz", ".Dt PIDSITTER.TOML 5"},
	};
	for (const auto &p : pages) {
		CAPTURE(std::string(p.path));
		CHECK(mode_of(root + p.path) == 0644);
		cmd_result z = run_cmd({"/bin/gzip", "-dc", root + p.path});
		CHECK(z.code == 0);
		CHECK(z.out.find(p.title) != std::string::npos);
		CHECK(z.out.find(".Sh NAME\n.Nm pidsitter") != std::string::npos);
	}
	std::string doc = root + "/usr/share/doc/pidsitter/";
	CHECK(mode_of(doc + "copyright") == 0644);
	CHECK(mode_of(doc + "changelog.gz") == 0644);
	for (const auto &e : examples) {
		CAPTURE(std::string(e.path));
		CHECK(mode_of(doc + "examples/" + e.path) == (e.exec ? 0755 : 0644));
	}

	/* And the packaged program does its job. */
	short_scenario(bin);
}

TEST_CASE("make dist makes build/pidsitter-VERSION.tar.gz from git's HEAD")
{
	if (access("/usr/bin/git", X_OK) != 0 ||
	    run_cmd({"/usr/bin/git", "rev-parse", "--verify", "-q", "HEAD"}).code != 0) {
		MESSAGE("no git, or no commit here: make dist is not checked");
		return;
	}
	std::string tgz = "build/pidsitter-" + version() + ".tar.gz";
	unlink(tgz.c_str());
	cmd_result r = run_cmd({"/usr/bin/make", "-s", "dist"}, clean_make_env, 60000);
	CAPTURE(r.err);
	REQUIRE(r.code == 0);
	cmd_result t = run_cmd({"/bin/tar", "tzf", tgz});
	REQUIRE(t.code == 0);
	std::string prefix = "pidsitter-" + version() + "/";
	size_t from = 0, nl, n = 0;
	while ((nl = t.out.find('\n', from)) != std::string::npos) {
		std::string entry = t.out.substr(from, nl - from);
		from = nl + 1;
		n++;
		CAPTURE(entry);
		CHECK(entry.compare(0, prefix.size(), prefix) == 0);
	}
	for (const char *f : {"Makefile", "COPYING", "src/settings.h", "man/pidsitter.8"})
		CHECK(t.out.find(prefix + f + "\n") != std::string::npos);
	CHECK(n > 10);
	unlink(tgz.c_str());
}
