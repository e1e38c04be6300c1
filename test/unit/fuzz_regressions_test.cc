/*
 * fuzz_regressions_test.cc: every input with which a fuzzer (make fuzz,
 * fuzz/) broke a property, inline, one line each, with what it must give
 * now.  A new find goes here with the fix.
 */
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "options.h"

/*
 * options_fuzz: a usage error named the wrong option.  options_parse()
 * named argv[optind - 1], but getopt moves optind past a word only once
 * it has read the word's last letter: for an unknown letter before the
 * end of a cluster ("-taly"), that is the word before it.  And a long
 * option getopt does not know (optopt 0) was said to "take no argument"
 * when an '=' followed it.
 */
TEST_CASE("fuzz regressions: options_parse names the option that is wrong")
{
	static const struct {
		std::vector<std::string> args;   /* after "pidsitter" */
		const char *err;
	} cases[] = {
		/* Found by options_fuzz (was "unknown option --json"). */
		{{"--json", "-taly", "serve", "-p"}, "unknown option -t"},
		/* Found by options_fuzz (was "option --e takes no argument"). */
		{{"--e=", "--json=yes", "-x", "-i"}, "unknown option --e"},
		/* The same two, the ways they show up by hand. */
		{{"-v", "-xv", "gitaly"}, "unknown option -x"},
		{{"--pid-file=/run/g.pid", "-jx", "gitaly"}, "unknown option -x"},
		{{"--pid-file=/run/g.pid", "-xj", "gitaly"}, "unknown option -x"},
		{{"-p", "/run/g.pid", "--bogus=1", "gitaly"}, "unknown option --bogus"},
		/* What was right stays right. */
		{{"--json=yes", "gitaly"}, "option --json takes no argument"},
		{{"--js=1", "gitaly"}, "option --js takes no argument"},
		{{"-vx", "gitaly"}, "unknown option -x"},
		{{"--bogus", "gitaly"}, "unknown option --bogus"},
		{{"-v", "-i"}, "option -i needs an argument"},
	};
	for (const auto &c : cases) {
		std::vector<std::string> args = c.args;
		std::vector<char *> argv;
		struct options o;
		std::string err;

		args.insert(args.begin(), "pidsitter");
		for (std::string &a : args)
			argv.push_back(&a[0]);
		argv.push_back(NULL);
		CAPTURE(c.err);
		CHECK(options_parse((int)args.size(), argv.data(), &o, &err) == -EINVAL);
		CHECK(err == std::string(c.err));
	}
}
