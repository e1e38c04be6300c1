#!/bin/sh
# deps.sh GROUP...: make sure the Debian packages of these groups (see
# packages.txt beside this script) are installed.  As root on Debian it
# installs what is missing with apt-get; otherwise it prints the exact command
# and fails, so that "make check" stops before a confusing compiler error.
set -eu
here=$(dirname "$0")
list="$here/packages.txt"
[ $# -gt 0 ] || { echo "usage: deps.sh GROUP..." >&2; exit 2; }

missing=""
old=""
for group in "$@"; do
	grep -q "^$group " "$list" || { echo "deps.sh: unknown group '$group' (see $list)" >&2; exit 2; }
	pkgs=$(awk -v g="$group" '$1 == g { print $2 "=" $3 }' "$list")
	for entry in $pkgs; do
		pkg=${entry%%=*}
		want=${entry#*=}
		have=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$pkg" 2>/dev/null || true)
		case "$have" in
		"ii "*)
			ver=${have#ii  }
			ver=${ver# }
			if ! dpkg --compare-versions "$ver" ge "$want" 2>/dev/null; then
				old="$old $pkg($ver<$want)"
			fi ;;
		*)
			case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac ;;
		esac
	done
done

[ -z "$old" ] || echo "deps.sh: warning: older than tested:$old" >&2
[ -n "$missing" ] || exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing Debian packages:$missing" >&2
	echo "deps.sh: install them as root with:" >&2
	echo "    apt-get update && $cmd" >&2
	exit 1
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists; refresh them once, and again if
# the install fails because the lists are stale.
if [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial -e auxfiles)" ]; then
	apt-get update -qq >&2
fi
# shellcheck disable=SC2086
if ! $cmd >&2; then
	apt-get update -qq >&2
	$cmd >&2
fi
