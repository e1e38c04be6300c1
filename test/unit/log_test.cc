/*
 * log_test.cc: logrus-compatible lines (log.cc).
 *
 * Exact lines for a fixed time, one table line per quoting rule, then
 * many awkward strings run through a small JSON checker of our own: every
 * JSON line must be an object of strings and numbers with its keys in
 * order, and every text line valid UTF-8 without a control byte.
 */
#include <doctest/doctest.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include <uv.h>

#include "log.h"
#include "settings.h"

/* 2026-11-27T09:44:00.123Z */
static const struct timespec when = {1795772640, 123456789};

/* The length of the valid UTF-8 sequence at s[i], 0 when it is not one
 * (an independent reading of RFC 3629, to check log.cc against). */
static size_t
utf8_at(const std::string &s, size_t i)
{
	unsigned char c = (unsigned char)s[i];
	size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 :
	    c >= 0xf0 && c <= 0xf4 ? 4 : 0;

	if (n == 0 || i + n > s.size())
		return 0;
	for (size_t k = 1; k < n; k++)
		if (((unsigned char)s[i + k] & 0xc0) != 0x80)
			return 0;
	unsigned char d = (unsigned char)s[i + 1];
	if ((c == 0xe0 && d < 0xa0) || (c == 0xed && d > 0x9f) ||
	    (c == 0xf0 && d < 0x90) || (c == 0xf4 && d > 0x8f))
		return 0;  /* overlong, surrogate, past U+10FFFF */
	return n;
}

/*
 * A JSON checker for what logrus writes: one object whose values are
 * strings or integers.  Fills *fields with the decoded strings (numbers as
 * written) and *keys in order; returns "" or what is wrong.
 */
static std::string
json_check(const std::string &j, std::map<std::string, std::string> *fields,
    std::vector<std::string> *keys)
{
	size_t i = 0;

	auto str = [&](std::string *out) -> std::string {
		if (i >= j.size() || j[i] != '"')
			return "expected a string";
		for (i++; i < j.size() && j[i] != '"';) {
			unsigned char c = (unsigned char)j[i];
			if (c < 0x20)
				return "raw control byte in a string";
			if (c != '\\') {
				size_t n = utf8_at(j, i);
				if (n == 0)
					return "invalid UTF-8 in a string";
				out->append(j, i, n);
				i += n;
				continue;
			}
			if (++i >= j.size())
				return "truncated escape";
			const char *simple = strchr("\"\\/bfnrt", j[i]);
			if (simple != NULL && j[i] != '\0') {
				out->push_back("\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"]);
				i++;
				continue;
			}
			if (j[i] != 'u' || i + 5 > j.size())
				return "bad escape";
			unsigned cp = 0;
			for (size_t k = 1; k <= 4; k++) {
				char h = j[i + k];
				if (!isxdigit((unsigned char)h))
					return "bad \\u escape";
				cp = cp * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' :
				    (h | 0x20) - 'a' + 10);
			}
			i += 5;
			if (cp >= 0xd800 && cp <= 0xdfff)
				return "surrogate escape";
			if (cp < 0x80) {
				out->push_back((char)cp);
			} else if (cp < 0x800) {
				out->push_back((char)(0xc0 | cp >> 6));
				out->push_back((char)(0x80 | (cp & 0x3f)));
			} else {
				out->push_back((char)(0xe0 | cp >> 12));
				out->push_back((char)(0x80 | ((cp >> 6) & 0x3f)));
				out->push_back((char)(0x80 | (cp & 0x3f)));
			}
		}
		if (i >= j.size())
			return "unterminated string";
		i++;
		return "";
	};

	if (j.empty() || j[0] != '{')
		return "not an object";
	i = 1;
	while (i < j.size() && j[i] != '}') {
		std::string key, val, err;
		if (!keys->empty() && j[i++] != ',')
			return "expected ','";
		if ((err = str(&key)) != "")
			return err;
		if (i >= j.size() || j[i++] != ':')
			return "expected ':'";
		if (i < j.size() && j[i] == '"') {
			if ((err = str(&val)) != "")
				return err;
		} else {
			size_t start = i;
			if (i < j.size() && j[i] == '-')
				i++;
			while (i < j.size() && isdigit((unsigned char)j[i]))
				i++;
			if (i == start || (i == start + 1 && j[start] == '-') ||
			    (j[start] == '0' && i > start + 1))
				return "expected a string or an integer";
			val = j.substr(start, i - start);
		}
		if (fields->count(key) != 0)
			return "duplicate key " + key;
		(*fields)[key] = val;
		keys->push_back(key);
	}
	if (i + 1 != j.size())
		return "text after the object";
	return "";
}

static std::string
text_line(int level, const char *msg, log_fields fields = {})
{
	return log_format_line(LOG_FORMAT_TEXT, &when, level, msg, 7, fields);
}

TEST_CASE("log: the time is UTC with milliseconds, cut not rounded")
{
	static const struct {
		time_t sec;
		long nsec;
		const char *want;
	} cases[] = {
		{1795772640, 123456789, "time=\"2026-11-27T09:44:00.123Z\""},
		{1795772640, 999999999, "time=\"2026-11-27T09:44:00.999Z\""},
		{1795772640, 0, "time=\"2026-11-27T09:44:00.000Z\""},
		{1795772640, 1000000, "time=\"2026-11-27T09:44:00.001Z\""},
		{0, 0, "time=\"1970-01-01T00:00:00.000Z\""},
		{951782400, 5000000, "time=\"2000-02-29T00:00:00.005Z\""},
		{4102444799, 0, "time=\"2099-12-31T23:59:59.000Z\""},
	};
	for (const auto &c : cases) {
		struct timespec t = {c.sec, c.nsec};
		std::string line = log_format_line(LOG_FORMAT_TEXT, &t, LOG_INFO, "x", 1, {});
		CAPTURE(c.sec);
		CHECK(line.substr(0, strlen(c.want)) == c.want);
	}
}

TEST_CASE("log: text lines are logrus lines, fields sorted, pid and wrapper included")
{
	CHECK(text_line(LOG_INFO, "Wrapper started") ==
	    "time=\"2026-11-27T09:44:00.123Z\" level=info msg=\"Wrapper started\" pid=7 wrapper=7");
	CHECK(text_line(LOG_INFO, "finding process", {{"pid_file", "/run/gitaly/gitaly.pid"}}) ==
	    "time=\"2026-11-27T09:44:00.123Z\" level=info msg=\"finding process\" pid=7 "
	    "pid_file=/run/gitaly/gitaly.pid wrapper=7");
	CHECK(text_line(LOG_WARN, "forwarding signal",
	    {{"signal", "SIGTERM"}, {"process", 4242L}, {"generation", 2u}}) ==
	    "time=\"2026-11-27T09:44:00.123Z\" level=warning msg=\"forwarding signal\" "
	    "generation=2 pid=7 process=4242 signal=SIGTERM wrapper=7");
	CHECK(text_line(LOG_ERROR, "shutting", {{"zz", -5}, {"a", ""}, {"m", "x y"}}) ==
	    "time=\"2026-11-27T09:44:00.123Z\" level=error msg=shutting a=\"\" m=\"x y\" "
	    "pid=7 wrapper=7 zz=-5");
	/* Every kind of number a field can be built from. */
	CHECK(text_line(LOG_INFO, "n", {{"a", 1}, {"b", 2L}, {"c", 3LL}, {"d", 4u},
	    {"e", 5UL}, {"f", 6ULL}, {"g", (long long)-9223372036854775807LL - 1}}) ==
	    "time=\"2026-11-27T09:44:00.123Z\" level=info msg=n a=1 b=2 c=3 d=4 e=5 f=6 "
	    "g=-9223372036854775808 pid=7 wrapper=7");
	/* A NULL string is an empty one. */
	CHECK(text_line(LOG_INFO, "n", {{"s", (const char *)NULL}}) ==
	    "time=\"2026-11-27T09:44:00.123Z\" level=info msg=n pid=7 s=\"\" wrapper=7");
}

TEST_CASE("log: level names")
{
	static const struct {
		int level;
		const char *name;
	} cases[] = {
		{LOG_DEBUG, "debug"}, {LOG_INFO, "info"}, {LOG_WARN, "warning"},
		{LOG_ERROR, "error"}, {LOG_FATAL, "fatal"},
	};
	for (const auto &c : cases) {
		std::string want = std::string(" level=") + c.name + " ";
		CHECK(text_line(c.level, "m").find(want) != std::string::npos);
		std::string j = log_format_line(LOG_FORMAT_JSON, &when, c.level, "m", 7, {});
		CHECK(j.find(std::string("\"level\":\"") + c.name + "\"") != std::string::npos);
	}
}

TEST_CASE("log: text quoting and escaping follow logrus and Go's strconv.Quote")
{
	/* Quoted unless every byte is one of [A-Za-z0-9-._/@^+]; empty is
	 * quoted; escapes as Go's %q: \" \\ \a \b \f \n \r \t \v, \xNN for
	 * other control bytes and for each byte of invalid UTF-8. */
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{"abc", "abc"},
		{"A-Z_a.z/0@9^+", "A-Z_a.z/0@9^+"},
		{"/opt/gitlab/embedded/bin/gitaly", "/opt/gitlab/embedded/bin/gitaly"},
		{"", "\"\""},
		{"a b", "\"a b\""},
		{"a=b", "\"a=b\""},
		{"a:b", "\"a:b\""},
		{"a,b", "\"a,b\""},
		{"(x)", "\"(x)\""},
		{"~", "\"~\""},
		{"say \"hi\"", "\"say \\\"hi\\\"\""},
		{"back\\slash", "\"back\\\\slash\""},
		{"line\nbreak", "\"line\\nbreak\""},
		{"cr\r", "\"cr\\r\""},
		{"tab\t", "\"tab\\t\""},
		{"\a\b\f\v", "\"\\a\\b\\f\\v\""},
		{"\x01", "\"\\x01\""},
		{"\x1b[31m", "\"\\x1b[31m\""},
		{"\x1f", "\"\\x1f\""},
		{"\x7f", "\"\\x7f\""},
		{"'", "\"'\""},
		{"caf\xc3\xa9", "\"caf\xc3\xa9\""},
		{"\xe6\x97\xa5\xe6\x9c\xac", "\"\xe6\x97\xa5\xe6\x9c\xac\""},
		{"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},
		{"\xef\xbf\xbd", "\"\xef\xbf\xbd\""},
		/* U+10FFFF is a noncharacter: Go's IsPrint says no. */
		{"\xf4\x8f\xbf\xbf", "\"\\U0010ffff\""},
		{"\xff", "\"\\xff\""},
		{"a\xc3", "\"a\\xc3\""},
		{"\xe6\x97", "\"\\xe6\\x97\""},
		{"\xc3\xa9\xa9", "\"\xc3\xa9\\xa9\""},
		{"\xc0\x80", "\"\\xc0\\x80\""},
		{"\xe0\x80\xaf", "\"\\xe0\\x80\\xaf\""},
		{"\xed\xa0\x80", "\"\\xed\\xa0\\x80\""},
		{"\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\""},
		{"\xf8\x88\x80\x80\x80", "\"\\xf8\\x88\\x80\\x80\\x80\""},
	};
	for (const auto &c : cases) {
		std::string want = "time=\"2026-11-27T09:44:00.123Z\" level=info msg=" +
		    std::string(c.out) + " k=" + c.out + " pid=7 wrapper=7";
		std::string in = c.in;
		CAPTURE(in);
		CHECK(text_line(LOG_INFO, c.in, {{"k", c.in}}) == want);
		std::string q;
		log_quote_text(&q, c.in);
		CHECK(q == (c.out[0] == '"' ? std::string(c.out) : '"' + std::string(c.out) + '"'));
	}
}

TEST_CASE("log: text escapes non-printable Unicode as strconv.Quote does")
{
	/* Go's %q writes \u for a valid rune that is not printable: the C1
	 * controls U+0080..U+009F among them.  U+009B is a terminal's CSI,
	 * U+0085 a line break to some readers: raw, they let a field value
	 * forge or hide log lines. */
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{"\xc2\x80", "\"\\u0080\""},
		{"\xc2\x85", "\"\\u0085\""},
		{"a\xc2\x9b" "31m", "\"a\\u009b31m\""},
		{"\xc2\x9f", "\"\\u009f\""},
	};
	for (const auto &c : cases) {
		std::string q;
		std::string in = c.in;
		CAPTURE(in);
		log_quote_text(&q, c.in);
		CHECK(q == std::string(c.out));
	}
}

TEST_CASE("log: JSON lines sort every key, numbers bare")
{
	CHECK(log_format_line(LOG_FORMAT_JSON, &when, LOG_INFO, "Wrapper started", 7, {}) ==
	    "{\"level\":\"info\",\"msg\":\"Wrapper started\",\"pid\":7,"
	    "\"time\":\"2026-11-27T09:44:00.123Z\",\"wrapper\":7}");
	CHECK(log_format_line(LOG_FORMAT_JSON, &when, LOG_WARN, "forwarding signal", 7,
	    {{"signal", "SIGTERM"}, {"process", 4242}, {"generation", 2u}, {"error", "x"},
	    {"a", -1}}) ==
	    "{\"a\":-1,\"error\":\"x\",\"generation\":2,\"level\":\"warning\","
	    "\"msg\":\"forwarding signal\",\"pid\":7,\"process\":4242,\"signal\":\"SIGTERM\","
	    "\"time\":\"2026-11-27T09:44:00.123Z\",\"wrapper\":7}");
}

TEST_CASE("log: JSON string escapes as encoding/json")
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{"", "\"\""},
		{"abc", "\"abc\""},
		{"a b/c", "\"a b/c\""},
		{"say \"hi\"", "\"say \\\"hi\\\"\""},
		{"back\\slash", "\"back\\\\slash\""},
		{"\n\r\t", "\"\\n\\r\\t\""},
		{"\x01", "\"\\u0001\""},
		{"\x1b", "\"\\u001b\""},
		{"\x1f", "\"\\u001f\""},
		{"\x7f", "\"\x7f\""},
		{"caf\xc3\xa9", "\"caf\xc3\xa9\""},
		{"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},
		{"\xff", "\"\\ufffd\""},
		{"a\xe6\x97", "\"a\\ufffd\\ufffd\""},
		{"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
		{"\xc0\xaf", "\"\\ufffd\\ufffd\""},
	};
	for (const auto &c : cases) {
		std::string q;
		std::string in = c.in;
		CAPTURE(in);
		log_quote_json(&q, c.in);
		CHECK(q == std::string(c.out));
	}
}

TEST_CASE("log: every JSON line is valid JSON that decodes to what was logged")
{
	static const char *const tricky[] = {
		"", " ", "\"", "\\", "\\\"", "\"\\", "{}", "{\"a\":1}", "a\nb", "\r\n",
		"\t\b\f", "\x01\x02\x1f", "\x7f", "\xc2\x80", "caf\xc3\xa9",
		"\xe2\x80\xa8\xe2\x80\xa9", "\xef\xbb\xbf", "\xf0\x9f\x98\x80",
		"\xf4\x8f\xbf\xbf", "</script>", "a&b<c>d", "\\u0000", "\\ud800",
		"msg", "time", "level",
	};
	/* Valid strings decode to themselves. */
	for (const char *s : tricky) {
		std::map<std::string, std::string> f;
		std::vector<std::string> keys;
		std::string j = log_format_line(LOG_FORMAT_JSON, &when, LOG_ERROR, s, 7,
		    {{"value", s}, {"n", -42}});
		CAPTURE(j);
		REQUIRE(json_check(j, &f, &keys) == "");
		CHECK(f["msg"] == s);
		CHECK(f["value"] == s);
		CHECK(f["n"] == "-42");
		CHECK(f["level"] == "error");
		CHECK(f["time"] == "2026-11-27T09:44:00.123Z");
		CHECK(f["pid"] == "7");
		CHECK(f["wrapper"] == "7");
		CHECK(keys.size() == 7);
		for (size_t k = 1; k < keys.size(); k++)
			CHECK(keys[k - 1] < keys[k]);
	}

	/* Every byte alone, every byte after a lead byte, and pseudo-random
	 * strings: always valid JSON, each invalid byte one U+FFFD. */
	std::vector<std::string> inputs;
	for (int a = 1; a < 256; a++) {
		inputs.push_back(std::string(1, (char)a));
		for (int b : {0x01, 0x41, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xff})
			inputs.push_back(std::string(1, (char)a) + (char)b);
	}
	unsigned seed = 12345;
	for (int n = 0; n < 3000; n++) {
		std::string s;
		int len = (int)((seed = seed * 1103515245 + 12345) >> 16) % 12;
		for (int k = 0; k < len; k++) {
			seed = seed * 1103515245 + 12345;
			int c = (int)((seed >> 16) & 0xff);
			s.push_back((char)(c == 0 ? 'x' : c));
		}
		inputs.push_back(s);
	}
	int bad = 0;
	for (const std::string &s : inputs) {
		std::map<std::string, std::string> f;
		std::vector<std::string> keys;
		std::string j = log_format_line(LOG_FORMAT_JSON, &when, LOG_INFO, s.c_str(), 7,
		    {{"v", s}});
		std::string want;
		for (size_t i = 0; i < s.size();) {
			size_t n = utf8_at(s, i);
			want += n == 0 ? std::string("\xef\xbf\xbd") : s.substr(i, n);
			i += n == 0 ? 1 : n;
		}
		std::string err = json_check(j, &f, &keys);
		if (err != "" || f["msg"] != want || f["v"] != want) {
			CAPTURE(j);
			CHECK(err == "");
			CHECK(f["msg"] == want);
			if (++bad > 10)
				break;
		}
	}
	CHECK(bad == 0);
}

TEST_CASE("log: every text line is printable UTF-8, quoted exactly when needed")
{
	unsigned seed = 777;
	int bad = 0;

	for (int n = 0; n < 5000 && bad < 10; n++) {
		std::string s;
		int len = (int)((seed = seed * 1103515245 + 12345) >> 16) % 10;
		for (int k = 0; k < len; k++) {
			seed = seed * 1103515245 + 12345;
			int c = (int)((seed >> 16) & 0xff);
			/* Half the bytes from the unquoted set, to reach both cases. */
			if (c & 1)
				c = "aZ09-._/@^+"[c % 11];
			s.push_back((char)(c == 0 ? 'x' : c));
		}
		std::string line = text_line(LOG_INFO, "m", {{"k", s}});
		std::string val = line.substr(line.find(" k=") + 3);
		val = val.substr(0, val.size() - strlen(" pid=7 wrapper=7"));
		bool plain = !s.empty() && s.find_first_not_of(
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+") ==
		    std::string::npos;
		bool ok = plain ? val == s : val.size() >= 2 && val.front() == '"' && val.back() == '"';
		for (size_t i = 0; i < line.size() && ok;) {
			size_t w = utf8_at(line, i);
			unsigned char c = (unsigned char)line[i];
			ok = w != 0 && c >= 0x20 && c != 0x7f;
			i += w;
		}
		if (!ok) {
			bad++;
			CAPTURE(s);
			CAPTURE(line);
			CHECK(ok);
		}
	}
	CHECK(bad == 0);
}

TEST_CASE("log: log_event writes one whole line per event to its fd")
{
	int fds[2];
	char buf[65536];
	std::string got;
	ssize_t n;

	REQUIRE(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);

	log_init(LOG_FORMAT_TEXT, 0, 4242, fds[1]);
	log_event(LOG_INFO, "Wrapper started", {{"version", PIDSITTER_VERSION}});
	log_event(LOG_DEBUG, "not shown without -v");
	log_event(LOG_WARN, "forwarding signal", {{"signal", "SIGHUP"}});
	std::string big(10000, 'x');
	log_event(LOG_ERROR, big.c_str());
	log_init(LOG_FORMAT_JSON, 1, 4242, fds[1]);
	log_event(LOG_DEBUG, "shown with -v", {{"n", 1}});

	while ((n = read(fds[0], buf, sizeof buf)) > 0)
		got.append(buf, (size_t)n);
	CHECK(n < 0);
	CHECK(errno == EAGAIN);

	std::vector<std::string> lines;
	for (size_t start = 0, nl; (nl = got.find('\n', start)) != std::string::npos; start = nl + 1)
		lines.push_back(got.substr(start, nl - start));
	REQUIRE(lines.size() == 4);
	CHECK(got.back() == '\n');
	CHECK(lines[0].substr(0, 6) == "time=\"");
	CHECK(lines[0].find("Z\" level=info msg=\"Wrapper started\" pid=4242 version="
	    PIDSITTER_VERSION " wrapper=4242") != std::string::npos);
	CHECK(lines[1].find(" level=warning msg=\"forwarding signal\" pid=4242 "
	    "signal=SIGHUP wrapper=4242") != std::string::npos);
	CHECK(lines[2].find(" level=error msg=" + big + " pid=4242 wrapper=4242") !=
	    std::string::npos);
	std::map<std::string, std::string> f;
	std::vector<std::string> keys;
	CHECK(json_check(lines[3], &f, &keys) == "");
	CHECK(f["level"] == "debug");
	CHECK(f["msg"] == "shown with -v");
	CHECK(f["wrapper"] == "4242");
	CHECK(f["time"].size() == strlen("2026-11-27T09:44:00.123Z"));
	CHECK(f["time"].back() == 'Z');

	/* A closed reader (svlogd gone) loses the line, never the wrapper;
	 * main() ignores SIGPIPE as we do here.  (The log writes a pipe
	 * through a description of its own, which the fd's close leaves
	 * open: that line meets the closed reader too.) */
	close(fds[0]);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	log_event(LOG_INFO, "into a closed pipe");
	close(fds[1]);
	log_event(LOG_INFO, "into a closed fd");
	signal(SIGPIPE, old);

	log_init(LOG_FORMAT_TEXT, 0, (long)getpid(), 1);
}

/* A pipe whose reader is stuck: it holds all it can (64 KiB of "-"
 * lines), written through a non-blocking description of our own so that
 * the write end's keeps its flags.  *rd is made non-blocking. */
static void
stuck_pipe(int *rd, int *wr)
{
	int fds[2];

	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	std::string self = "/proc/self/fd/" + std::to_string(fds[1]);
	int nb = open(self.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	REQUIRE(nb >= 0);
	/* Long lines, then short ones for the room left in the last
	 * page: not even a short log line fits in then. */
	for (size_t len : {100, 2}) {
		std::string junk = std::string(len - 1, '-') + "\n";
		while (write(nb, junk.data(), junk.size()) > 0)
			;
		CHECK(errno == EAGAIN);
	}
	close(nb);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	*rd = fds[0];
	*wr = fds[1];
}

/* What the pipe holds now, without the "-" lines. */
static std::string
drain(int rd)
{
	std::string got, out;
	char buf[65536];
	ssize_t n;

	while ((n = read(rd, buf, sizeof buf)) > 0)
		got.append(buf, (size_t)n);
	for (size_t at = 0, nl; (nl = got.find('\n', at)) != std::string::npos; at = nl + 1)
		if (got[at] != '-')
			out += got.substr(at, nl + 1 - at);
	return out;
}

/* The messages of text's lines, in order, "|" between. */
static std::string
msgs_of(const std::string &text)
{
	std::string out;

	for (size_t at = 0; (at = text.find(" msg=", at)) != std::string::npos; at++) {
		size_t from = at + 5, to;
		if (text[from] == '"') {
			from++;
			to = text.find('"', from);
		} else {
			to = text.find(' ', from);
		}
		out += (out.empty() ? "" : "|") + text.substr(from, to - from);
	}
	return out;
}

TEST_CASE("log: a pipe whose reader is stuck: nothing waits, no line about the daemon's life is lost")
{
	int rd, wr;

	stuck_pipe(&rd, &wr);
	log_init(LOG_FORMAT_TEXT, 0, 4242, wr);
	/* The description the daemon would share keeps its flags. */
	CHECK((fcntl(wr, F_GETFL) & O_NONBLOCK) == 0);
	log_event(LOG_INFO, "Wrapper started");
	log_event(LOG_INFO, "spawning a process");
	log_event(LOG_INFO, "monitoring process");
	CHECK(log_dropped_lines() == 0);
	/* The reader comes back; the next line brings the others out
	 * first. */
	CHECK(drain(rd) == "");
	log_event(LOG_INFO, "process exited");
	CHECK(msgs_of(drain(rd)) ==
	    "Wrapper started|spawning a process|monitoring process|process exited");
	CHECK(log_dropped_lines() == 0);

	close(rd);
	close(wr);
	log_init(LOG_FORMAT_TEXT, 0, (long)getpid(), 1);
}

TEST_CASE("log: with the reader stuck, a few signal lines are kept, the rest dropped and counted; the others are kept up to the bound")
{
	int rd, wr;

	stuck_pipe(&rd, &wr);
	log_init(LOG_FORMAT_TEXT, 0, 4242, wr);
	log_event(LOG_INFO, "monitoring process");
	unsigned long long total = log_dropped_total();
	/* Per-signal lines: those within LOG_VOLATILE_QUEUE are kept. */
	int kept = 0;
	for (int i = 0; i < 1000; i++) {
		log_event(LOG_WARN | LOG_VOLATILE, "forwarding signal", {{"n", i}});
		if (log_dropped_lines() == 0)
			kept++;
	}
	CHECK(kept > 50);
	CHECK(kept < 1000);
	CHECK(log_dropped_lines() == (unsigned long)(1000 - kept));
	CHECK(log_dropped_total() - total == (unsigned long long)(1000 - kept));
	/* A line about the daemon's life is kept, the count with it; the
	 * total (the metrics file's counter) never goes back. */
	log_event(LOG_WARN, "process exited");
	CHECK(log_dropped_lines() == 0);
	CHECK(log_dropped_total() - total == (unsigned long long)(1000 - kept));

	std::string got = drain(rd);
	log_flush(1000);
	got += drain(rd);
	log_flush(1000);
	got += drain(rd);
	CAPTURE(got.size());
	std::vector<std::string> lines;
	for (size_t at = 0, nl; (nl = got.find('\n', at)) != std::string::npos; at = nl + 1)
		lines.push_back(got.substr(at, nl - at));
	REQUIRE(lines.size() == (size_t)kept + 3);
	CHECK(lines[0].find("msg=\"monitoring process\"") != std::string::npos);
	for (int i = 0; i < kept; i++)
		CHECK(lines[(size_t)i + 1].find(" n=" + std::to_string(i) + " ") != std::string::npos);
	CHECK(lines[(size_t)kept + 1].find("msg=\"log lines dropped: the log pipe was full\" dropped=" +
	    std::to_string(1000 - kept) + " ") != std::string::npos);
	CHECK(lines[(size_t)kept + 2].find("msg=\"process exited\"") != std::string::npos);

	/* Lines about the daemon's life: kept up to LOG_QUEUE_MAX bytes. */
	close(rd);
	close(wr);
	stuck_pipe(&rd, &wr);
	log_init(LOG_FORMAT_TEXT, 0, 4242, wr);
	std::string pad(900, 'x');
	int n = 0;
	while (log_dropped_lines() == 0 && n < 10000) {
		log_event(LOG_INFO, "upgrade started", {{"n", n}, {"pad", pad}});
		n++;
	}
	CHECK(n * 1000 > LOG_QUEUE_MAX * 9 / 10);
	CHECK(n * 900 < LOG_QUEUE_MAX + 2000);
	CHECK(log_dropped_lines() == 1);
	CHECK(log_queued_bytes() > LOG_QUEUE_MAX * 9 / 10);
	CHECK(log_queued_bytes() <= LOG_QUEUE_MAX);
	/* The reader comes back: all of them arrive, in order. */
	got.clear();
	for (int round = 0; round < 1000 && log_queued_bytes() > 0; round++) {
		got += drain(rd);
		log_flush(10);
	}
	got += drain(rd);
	CHECK(log_queued_bytes() == 0);
	/* Lines 0 to n - 2, in order; line n - 1 was dropped. */
	int next = 0;
	bool in_order = true;
	for (size_t at = 0, nl; (nl = got.find('\n', at)) != std::string::npos; at = nl + 1)
		in_order = in_order && got.compare(at, nl - at, "") != 0 &&
		    got.substr(at, nl - at).find(" n=" + std::to_string(next++) + " ") != std::string::npos;
	CHECK(in_order);
	CHECK(next == n - 1);

	close(rd);
	close(wr);
	log_init(LOG_FORMAT_TEXT, 0, (long)getpid(), 1);
}

TEST_CASE("log: log_flush waits a bounded time for a reader that never comes, and the lines stay queued")
{
	int rd, wr;

	stuck_pipe(&rd, &wr);
	log_init(LOG_FORMAT_TEXT, 0, 4242, wr);
	log_event(LOG_INFO, "process exited");
	log_event(LOG_ERROR, "wrapper for process shutting down");
	/* It returns with nothing read: a little wait, then it gives up. */
	log_flush(20);
	CHECK(drain(rd) == "");
	log_flush(1000);
	CHECK(msgs_of(drain(rd)) == "process exited|wrapper for process shutting down");

	close(rd);
	close(wr);
	log_init(LOG_FORMAT_TEXT, 0, (long)getpid(), 1);
}

/* The loop's side of it: the queue goes out as soon as the reader makes
 * room, with no log_event to carry it. */
namespace {
struct reader {
	int rd;
	std::string got;
	int ticks;
};
}

static void
reader_cb(uv_timer_t *t)
{
	struct reader *r = (struct reader *)t->data;
	char buf[65536];
	ssize_t n;

	while ((n = read(r->rd, buf, sizeof buf)) > 0)
		r->got.append(buf, (size_t)n);
	if (r->got.find(" msg=last ") != std::string::npos || ++r->ticks > 2000)
		uv_timer_stop(t);
}

TEST_CASE("log: the loop writes the queue out when the log takes it again")
{
	uv_loop_t loop;
	uv_timer_t timer;
	struct reader r;
	int wr;

	REQUIRE(uv_loop_init(&loop) == 0);
	stuck_pipe(&r.rd, &wr);
	r.ticks = 0;
	log_init(LOG_FORMAT_TEXT, 0, 4242, wr);
	log_attach_loop(&loop);
	log_event(LOG_INFO, "first");
	log_event(LOG_INFO, "last");
	CHECK(log_dropped_lines() == 0);
	/* The reader reads every 5 ms: all it needs to see is there once
	 * the poll handle has written it. */
	uv_timer_init(&loop, &timer);
	timer.data = &r;
	uv_timer_start(&timer, reader_cb, 5, 5);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(r.ticks <= 2000);
	std::string got;
	for (size_t at = 0, nl; (nl = r.got.find('\n', at)) != std::string::npos; at = nl + 1)
		if (r.got[at] != '-')
			got += r.got.substr(at, nl + 1 - at);
	CHECK(msgs_of(got) == "first|last");

	/* Done with the loop: the poll handle is closed. */
	log_flush(0);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	close(r.rd);
	close(wr);
	log_init(LOG_FORMAT_TEXT, 0, (long)getpid(), 1);
}

TEST_CASE("log: what the log refuses is dropped and counted, never waited for")
{
	SUBCASE("a named FIFO with no reader") {
		char dir[] = "/tmp/log-test.XXXXXX";
		REQUIRE(mkdtemp(dir) != NULL);
		std::string fifo = std::string(dir) + "/fifo";
		REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
		int rd = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		int wr = open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
		close(rd);
		unlink(fifo.c_str());
		rmdir(dir);
		REQUIRE(wr >= 0);
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);
		log_init(LOG_FORMAT_TEXT, 0, 4242, wr);
		log_event(LOG_INFO, "Wrapper started");
		log_event(LOG_INFO, "spawning a process");
		CHECK(log_dropped_lines() == 2);
		log_flush(1000);
		signal(SIGPIPE, old);
		close(wr);
	}
	SUBCASE("a full disk (/dev/full)") {
		int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
		REQUIRE(full >= 0);
		log_init(LOG_FORMAT_TEXT, 0, 4242, full);
		log_event(LOG_INFO, "Wrapper started");
		log_event(LOG_INFO, "spawning a process");
		CHECK(log_dropped_lines() == 2);
		log_flush(1000);
		close(full);
	}
	SUBCASE("a closed fd") {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		REQUIRE(fd >= 0);
		close(fd);
		log_init(LOG_FORMAT_TEXT, 0, 4242, fd);
		log_event(LOG_INFO, "Wrapper started");
		CHECK(log_dropped_lines() == 1);
		log_flush(1000);
	}
	log_init(LOG_FORMAT_TEXT, 0, (long)getpid(), 1);
}
