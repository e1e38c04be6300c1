/*
 * service.cc: see service.h.
 */
#include "service.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

cmd_result
run_cmd(const std::vector<std::string> &argv, const std::vector<std::string> &env,
    int timeout_ms)
{
	cmd_result r;
	child p;

	child_start(&p, argv, env);
	bool done = child_wait_exit(&p, timeout_ms);
	r.out = p.out;
	r.err = p.err;
	if (!done) {
		INFO("command: " << argv[0] << (argv.size() > 1 ? " " + argv[1] : ""));
		INFO(child_dump(&p));
		FAIL("command still running at its deadline");
	}
	r.code = child_code(&p);
	return r;
}

bool
child_wait_count(child *p, const char *needle, int n, int timeout_ms)
{
	return wait_until([&] {
		pump_for(p, 20);
		return child_count_lines(p, needle) >= n;
	}, timeout_ms);
}

std::string
substitute(std::string text, const subst_list &subs)
{
	for (const auto &s : subs) {
		size_t at = 0;
		while ((at = text.find(s.first, at)) != std::string::npos) {
			text.replace(at, s.first.size(), s.second);
			at += s.second.size();
		}
	}
	return text;
}

void
copy_example(const std::string &from, const std::string &to, const subst_list &subs)
{
	DIR *d = opendir(from.c_str());
	struct dirent *e;

	REQUIRE_MESSAGE(d != NULL, "no example directory " << from);
	REQUIRE((mkdir(to.c_str(), 0755) == 0 || errno == EEXIST));
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		std::string name = e->d_name;
		if (name == "." || name == "..")
			continue;
		std::string src = from + "/" + name, dst = to + "/" + name;
		REQUIRE(lstat(src.c_str(), &st) == 0);
		if (S_ISDIR(st.st_mode))
			copy_example(src, dst, subs);
		else if (S_ISREG(st.st_mode))
			write_file(dst, substitute(read_file(src), subs), (int)(st.st_mode & 0777));
	}
	closedir(d);
}

subst_list
gitlab_paths(const std::string &args, const std::string &var, const std::string &gitaly)
{
	return {
	    {"/var/opt/gitlab/gitaly/config.toml", args},
	    {"/var/opt/gitlab/gitaly", var},
	    {"/usr/sbin/pidsitter", build_path("pidsitter")},
	    {"/opt/gitlab/embedded/bin/gitaly", gitaly},
	};
}

service_daemon::service_daemon(const tmp_dir &dir, const std::vector<std::string> &extra)
{
	var = dir / "var";
	REQUIRE(mkdir((dir / "bin").c_str(), 0755) == 0);
	REQUIRE(mkdir(var.c_str(), 0755) == 0);
	bin = dir.link("bin/gitaly", "fixture-daemon");
	pidfile = var + "/gitaly.pid";
	record = var + "/record";
	std::string args = "--pid-file " + pidfile + " --record " + record;
	for (const std::string &a : extra)
		args += " " + a;
	subs = gitlab_paths(args, var, bin);
	as_nobody = nobody_can_run({build_path("pidsitter"), build_path("fixture-daemon")});
	if (as_nobody)
		chown_nobody(var);
}

pid_t
service_daemon::wait_ready(pid_t old, int timeout_ms) const
{
	pid_t d = 0;

	REQUIRE(wait_until([&] {
		d = read_pid(pidfile);
		return d > 0 && d != old && record_count(record, d, "ready") == 1;
	}, timeout_ms));
	return d;
}

std::vector<pid_t>
service_daemon::daemons() const
{
	return live_matching(bin);
}

static bool
under(const std::string &path, const std::string &dir)
{
	return path.compare(0, dir.size(), dir) == 0 &&
	    (path.size() == dir.size() || path[dir.size()] == '/');
}

std::vector<pid_t>
live_in(const std::string &dir)
{
	std::vector<pid_t> out;

	for (pid_t pid : all_pids()) {
		char cwd[4096];
		std::string link = "/proc/" + std::to_string(pid) + "/cwd";
		ssize_t n = readlink(link.c_str(), cwd, sizeof cwd - 1);
		bool hit = n > 0 && under(std::string(cwd, (size_t)n), dir);
		if (!hit)
			hit = cmdline_of(pid).find(dir + "/") != std::string::npos;
		if (hit && pid_alive(pid))
			out.push_back(pid);
	}
	return out;
}

void
kill_all_in(const std::string &dir)
{
	wait_until([&] {
		std::vector<pid_t> left = live_in(dir);
		for (pid_t pid : left) {
			/* Pinned: a PID reused meanwhile is someone else's. */
			pinned p = pin(pid);
			if (pinned_alive(p))
				kill(pid, SIGKILL);
		}
		return left.empty();
	}, 10000);
}

void
check_none_in(const std::string &dir)
{
	CHECK(wait_until([&] { return live_in(dir).empty(); }, 10000));
	for (pid_t pid : live_in(dir)) {
		CAPTURE(pid);
		CAPTURE(read_file("/proc/" + std::to_string(pid) + "/cmdline"));
		CHECK(false);
	}
}

bool
nobody_can_run(const std::vector<std::string> &programs)
{
	struct passwd *pw = getpwnam("nobody");
	int st;

	if (geteuid() != 0 || pw == NULL)
		return false;
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(1);
		for (const std::string &p : programs)
			if (access(p.c_str(), X_OK) < 0)
				_exit(1);
		_exit(0);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void
chown_nobody(const std::string &dir)
{
	struct passwd *pw = getpwnam("nobody");

	REQUIRE(pw != NULL);
	REQUIRE(chown(dir.c_str(), pw->pw_uid, pw->pw_gid) == 0);
}

/* ---- JSON ---- */

const json *
json::get(const char *key) const
{
	if (type != OBJECT)
		return NULL;
	for (const auto &m : members)
		if (m.first == key)
			return &m.second;
	return NULL;
}

namespace {

struct reader {
	const std::string &t;
	size_t i = 0;
	std::string err;

	explicit reader(const std::string &text) : t(text) {}

	bool fail(const char *why)
	{
		if (err.empty())
			err = std::string(why) + " at byte " + std::to_string(i);
		return false;
	}
	void space()
	{
		while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
			i++;
	}
	/* White space, then c: true and past it, or false before what is there. */
	bool eat(char c)
	{
		space();
		if (i >= t.size() || t[i] != c)
			return false;
		i++;
		return true;
	}
	bool word(const char *w)
	{
		size_t n = strlen(w);
		if (t.compare(i, n, w) != 0)
			return fail("bad literal");
		i += n;
		return true;
	}
	bool str(std::string *out)
	{
		if (i >= t.size() || t[i] != '"')
			return fail("expected a string");
		i++;
		while (i < t.size() && t[i] != '"') {
			unsigned char c = (unsigned char)t[i];
			if (c < 0x20)
				return fail("control character in a string");
			if (c != '\\') {
				out->push_back((char)c);
				i++;
				continue;
			}
			if (++i >= t.size())
				break;
			char esc = t[i++];
			switch (esc) {
			case '"': case '\\': case '/': out->push_back(esc); break;
			case 'b': out->push_back('\b'); break;
			case 'f': out->push_back('\f'); break;
			case 'n': out->push_back('\n'); break;
			case 'r': out->push_back('\r'); break;
			case 't': out->push_back('\t'); break;
			case 'u':
				for (int k = 0; k < 4; k++, i++)
					if (i >= t.size() || !isxdigit((unsigned char)t[i]))
						return fail("bad \\u escape");
				out->push_back('?');  /* the tests compare ASCII only */
				break;
			default:
				return fail("bad escape");
			}
		}
		if (i >= t.size())
			return fail("unterminated string");
		i++;
		return true;
	}
	bool digits()
	{
		size_t from = i;
		while (i < t.size() && isdigit((unsigned char)t[i]))
			i++;
		return i > from || fail("expected a digit");
	}
	bool number(double *out)
	{
		size_t from = i;
		if (i < t.size() && t[i] == '-')
			i++;
		if (i < t.size() && t[i] == '0')
			i++;
		else if (!digits())
			return false;
		if (i < t.size() && t[i] == '.') {
			i++;
			if (!digits())
				return false;
		}
		if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
			i++;
			if (i < t.size() && (t[i] == '+' || t[i] == '-'))
				i++;
			if (!digits())
				return false;
		}
		*out = strtod(t.substr(from, i - from).c_str(), NULL);
		return true;
	}
	bool value(json *v, int depth)
	{
		if (depth > 64)
			return fail("nested too deep");
		space();
		if (i >= t.size())
			return fail("expected a value");
		char c = t[i];
		if (c == '{') {
			v->type = json::OBJECT;
			i++;
			if (eat('}'))
				return true;
			for (;;) {
				std::string key;
				json member;
				space();
				if (!str(&key))
					return false;
				if (!eat(':'))
					return fail("expected ':'");
				if (!value(&member, depth + 1))
					return false;
				v->members.emplace_back(key, member);
				if (eat(','))
					continue;
				if (eat('}'))
					return true;
				return fail("expected ',' or '}'");
			}
		}
		if (c == '[') {
			v->type = json::ARRAY;
			i++;
			if (eat(']'))
				return true;
			for (;;) {
				json item;
				if (!value(&item, depth + 1))
					return false;
				v->items.push_back(item);
				if (eat(','))
					continue;
				if (eat(']'))
					return true;
				return fail("expected ',' or ']'");
			}
		}
		if (c == '"') {
			v->type = json::STRING;
			return str(&v->s);
		}
		if (c == 't' || c == 'f') {
			v->type = json::BOOL;
			v->b = c == 't';
			return word(c == 't' ? "true" : "false");
		}
		if (c == 'n') {
			v->type = json::NUL;
			return word("null");
		}
		v->type = json::NUMBER;
		return number(&v->n);
	}
};

}  // namespace

bool
json_parse(const std::string &text, json *out, std::string *err)
{
	reader r(text);
	json v;

	if (r.value(&v, 0)) {
		r.space();
		if (r.i == text.size()) {
			*out = v;
			return true;
		}
		r.fail("text after the value");
	}
	*err = r.err;
	return false;
}
