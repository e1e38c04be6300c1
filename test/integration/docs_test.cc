/*
 * docs_test.cc: the documentation says what the program does: the man
 * pages lint clean, the SYNOPSIS is the usage line, the README starts with
 * the two commands.
 */
#include <doctest/doctest.h>

#include "harness.h"

namespace {

/* mandoc's terminal output overstrikes with backspaces: keep the last. */
std::string
plain(const std::string &s)
{
	std::string out;
	for (char c : s) {
		if (c == '\b') {
			if (!out.empty())
				out.pop_back();
		} else {
			out.push_back(c);
		}
	}
	return out;
}

std::string
squeeze(const std::string &s)
{
	std::string out;
	for (char c : s) {
		if (c == ' ' || c == '\n' || c == '\t') {
			if (!out.empty() && out.back() != ' ')
				out.push_back(' ');
		} else {
			out.push_back(c);
		}
	}
	while (!out.empty() && out.back() == ' ')
		out.pop_back();
	return out;
}

}  // namespace

TEST_CASE("the man pages are clean under mandoc -Tlint")
{
	/* Every message of every level counts, but two that speak of the
	 * machine rather than the page: whether the pages we refer to
	 * (pidsitter.toml(5), runit's) are in this machine's mandoc.db. */
	for (const char *page : {"man/pidsitter.8", "man/pidsitter.toml.5"}) {
		CAPTURE(page);
		child m;
		child_start(&m, {"/usr/bin/mandoc", "-Tlint", "-W", "all", page});
		REQUIRE(child_wait_exit(&m, 10000));
		std::string rest;
		size_t from = 0, nl;
		std::string all = m.out + m.err;
		while ((nl = all.find('\n', from)) != std::string::npos) {
			std::string line = all.substr(from, nl - from);
			from = nl + 1;
			if (line.find("referenced manual not found") != std::string::npos ||
			    line.find("outdated mandoc.db") != std::string::npos)
				continue;
			rest += line + "\n";
		}
		CHECK(rest == "");
	}
}

TEST_CASE("the SYNOPSIS of pidsitter(8) is the usage line of --help")
{
	child m, h;
	child_start(&m, {"/usr/bin/mandoc", "-T", "ascii", "-O", "width=300", "man/pidsitter.8"});
	REQUIRE(child_wait_exit(&m, 10000));
	std::string text = plain(m.out);
	size_t at = text.find("SYNOPSIS");
	REQUIRE(at != std::string::npos);
	size_t end = text.find("DESCRIPTION", at);
	REQUIRE(end != std::string::npos);
	std::string synopsis = squeeze(text.substr(at + 8, end - at - 8));

	child_start(&h, {build_path("pidsitter"), "-h"});
	REQUIRE(child_wait_exit(&h, 5000));
	/* The usage lines, up to the blank line: "usage: " and the
	 * indentation of the second form dropped. */
	std::string usage = h.out.substr(0, h.out.find("\n\n"));
	REQUIRE(usage.compare(0, 7, "usage: ") == 0);
	CHECK(synopsis == squeeze(usage.substr(7)));
}

TEST_CASE("README.md begins with the two commands, make check and make demo")
{
	std::string readme = read_file("README.md");
	size_t check = readme.find("make check");
	size_t demo = readme.find("make demo");
	REQUIRE(check != std::string::npos);
	REQUIRE(demo != std::string::npos);
	CHECK(check < demo);
	CHECK(check < 40);
}
