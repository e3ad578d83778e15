#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/portability/check_posix_build.sh — fails when the library built with SIGRELAY_PLATFORM=posix
# uses something Linux-only (or missing from macOS or FreeBSD). Run by ctest in the posix preset
# (tests/portability/CMakeLists.txt); see README, "Platforms".
#
# usage: check_posix_build.sh symbols LIBRARY COMPILE_COMMANDS SOURCE_DIR NM
#        check_posix_build.sh headers COMPILE_COMMANDS SOURCE_DIR CXX HEADER...
#
# symbols: the undefined symbols of every object in LIBRARY (nm -u) against a deny list of
#   Linux-only functions and objects. glibc's libstdc++ references two of them from its own
#   headers (syscall for std::atomic::wait/std::stop_token's futex, __libc_single_threaded for
#   shared_ptr's reference counts): so each object's source is also preprocessed with its own compile
#   command (compile_commands.json) and every occurrence of a denied name is attributed, by the
#   preprocessor's line markers, to the file it comes from. A denied name in a file under SOURCE_DIR
#   fails, linked or not (a call the optimiser dropped still would not compile elsewhere); a denied
#   symbol that nm sees but no file under SOURCE_DIR names is reported with the system header that
#   does, and passes (that header is the standard library's own business on each system).
#   The same preprocessing (-dI) keeps the #include directives that each file under SOURCE_DIR makes
#   (in the branches its #if's take): a Linux-only header there fails too.
# headers: compiles each public HEADER alone (CXX -fsyntax-only, with the library's include
#   directories and definitions taken from COMPILE_COMMANDS) and fails if it, or a sigrelay header it
#   includes, includes a Linux-only header itself (-dI, as above; what the C and C++ libraries include
#   inside their own headers is theirs: glibc's <unistd.h> pulls <linux/close_range.h>).
set -eu

# Linux-only functions/objects, or ones macOS or FreeBSD lack (ppoll, pipe2 on macOS; timer_create,
# sigtimedwait, dl_iterate_phdr, pthread_getattr_np, clock_nanosleep on macOS).
DENY='signalfd epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 eventfd
eventfd_read eventfd_write syscall gettid tgkill tkill pidfd_open pidfd_send_signal pidfd_getfd
__libc_single_threaded timerfd_create timerfd_settime timerfd_gettime inotify_init inotify_init1
inotify_add_watch prctl madvise sched_getcpu ppoll timer_create timer_settime timer_delete
sigtimedwait sigwaitinfo dl_iterate_phdr pthread_getattr_np pthread_sigqueue clock_nanosleep
getauxval sigisemptyset sigorset sigandset rt_sigqueueinfo rt_tgsigqueueinfo getcontext
pthread_getname_np memfd_create getrandom accept4 dup3 mremap'
# Headers that macOS or FreeBSD lack (or that are Linux's own).
DENY_HEADERS='(^|[</])(sys/(epoll|signalfd|eventfd|syscall|prctl|timerfd|inotify|single_threaded)\.h|linux/|asm/|asm-generic/|link\.h|elf\.h)'

deny_regex=$(echo $DENY | tr ' ' '|')
fail=0

# The compile command of SOURCE from compile_commands.json, made a preprocessing-only one
# (-E -H, output to $2, no depfile).
preprocess_command() {
  grep '"command"' "$CC_JSON" | grep -F -- "-c $1\"" | head -n 1 |
    sed -e 's/^ *"command": "//' -e 's/",\{0,1\} *$//' -e 's/\\"/"/g' \
        -e 's/ -o [^ ]*/ /' -e 's/ -c [^ ]*$//' -e 's/ -MD / /' -e 's/ -MT [^ ]*/ /' -e 's/ -MF [^ ]*/ /' \
        -e 's#^[^ ]*ccache ##'
}

# Reads preprocessed text made with -dI (which keeps each active #include directive where it was) on
# stdin: prints "INCLUDER -> HEADER" for each denied header that a file under SOURCE_DIR includes
# itself, also one that a system header had included before (which -H would not show again).
direct_denied_includes() {
  awk -v src="$SRC/" -v deny="$DENY_HEADERS" '
    /^# [0-9]+ "/ { f = $3; gsub(/"/, "", f); next }
    /^#[ \t]*include[ \t]*[<"]/ {
      h = $0; sub(/^#[ \t]*include[ \t]*/, "", h)
      if (index(f, src) == 1 && h ~ deny) print f " -> " h
    }'
}

# Reads preprocessed text on stdin: prints "FILE: NAME: how" for each use of a denied name, by the
# file that line comes from (line markers: # N "file" flags). A use is a global-qualified ::NAME, an
# unqualified call NAME( (not a declaration: no identifier other than `return` right before it) or
# __libc_single_threaded; qualified names (sys::eventfd, backend::signalfd, call::futex) and members
# are our own and not uses. With `all` as $1, every occurrence counts (for names nm saw linked).
attribute_names() {
  awk -v deny="^($deny_regex)\$" -v all="${1:-}" '
    /^# [0-9]+ "/ { f = $3; gsub(/"/, "", f); next }
    /^#/ { next }  # #include (-dI), #pragma
    {
      text = $0; gsub(/"([^"\\]|\\.)*"/, "\"\"", text)  # string literals name nothing
      line = text; done = 0
      while (match(line, /[A-Za-z_][A-Za-z0-9_]*/)) {
        name = substr(line, RSTART, RLENGTH)
        pre = substr(text, 1, done + RSTART - 1)
        rest = substr(line, RSTART + RLENGTH)
        done += RSTART + RLENGTH - 1
        line = rest
        if (name !~ deny) continue
        if (all == "all") { print f ": " name ": mentioned"; continue }
        if (pre ~ /::[ \t]*$/) {
          p2 = pre; sub(/::[ \t]*$/, "", p2)
          if (p2 !~ /[A-Za-z0-9_>]$/) print f ": " name ": ::" name
          continue
        }
        if (pre ~ /(\.|->)[ \t]*$/) continue
        if (name == "__libc_single_threaded") { print f ": " name ": read"; continue }
        if (rest ~ /^[ \t]*\(/) {
          if (match(pre, /[A-Za-z_][A-Za-z0-9_]*[ \t*&]*$/)) {
            prev = substr(pre, RSTART); sub(/[ \t*&]*$/, "", prev)
            if (prev != "return") continue
          }
          print f ": " name ": call"
        }
      }
    }' | sort -u
}

case "$1" in
symbols)
  LIB=$2 CC_JSON=$3 SRC=$4 NM=$5
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # "object.o: symbol" for every denied undefined symbol (version suffixes removed).
  "$NM" -u -A "$LIB" | sed -e 's/@.*//' |
    awk -v deny="^($deny_regex)\$" '{ sym = $NF; obj = $1; sub(/:$/, "", obj); n = split(obj, p, ":");
      if (sym ~ deny) print p[n] ": " sym }' | sort -u > "$work/nm.txt"
  objects=0
  for src in $(grep '"file"' "$CC_JSON" | sed -e 's/^ *"file": "//' -e 's/".*//' | grep -F "$SRC/src/" | sort -u); do
    base=$(basename "$src")
    objects=$((objects + 1))
    cmd=$(preprocess_command "$src")
    if [ -z "$cmd" ]; then echo "FAIL: no compile command for $src"; fail=1; continue; fi
    # shellcheck disable=SC2086
    if ! sh -c "$cmd -E -dI -o '$work/$base.i' '$src'" 2> "$work/$base.err"; then
      echo "FAIL: cannot preprocess $src"; cat "$work/$base.err"; fail=1; continue
    fi
    direct_denied_includes < "$work/$base.i" | while read -r line; do
      echo "FAIL: Linux-only header: $line"; done > "$work/$base.inc"
    if [ -s "$work/$base.inc" ]; then cat "$work/$base.inc"; fail=1; fi
    attribute_names < "$work/$base.i" > "$work/$base.uses"
    attribute_names all < "$work/$base.i" > "$work/$base.names"
    if grep -F "$SRC/" "$work/$base.uses" > "$work/$base.ours"; then
      sed 's/^/FAIL: Linux-only name in the posix build: /' "$work/$base.ours"; fail=1
    fi
    grep -F "$base.o: " "$work/nm.txt" | while read -r obj sym; do
      ours=$(grep -F ": $sym: " "$work/$base.names" | grep -F "$SRC/" | sed 's/: .*//' | tr '\n' ' ')
      from=$(grep -F ": $sym: " "$work/$base.names" | grep -v -F "$SRC/" | sed 's/: .*//' | sort -u | tr '\n' ' ')
      if [ -n "$ours" ] || [ -z "$from" ]; then
        echo "FAIL: $obj references $sym, named in: ${ours:-no file at all (a macro of ours?)}"
        echo x >> "$work/unexplained"
      else
        echo "note: $obj references $sym from system header(s) only: $from"
      fi
    done
  done
  [ -e "$work/unexplained" ] && fail=1
  [ "$objects" -gt 10 ] || { echo "FAIL: only $objects library sources found in $CC_JSON"; fail=1; }
  echo "checked $objects library sources; $(wc -l < "$work/nm.txt") denied undefined symbol reference(s) in $LIB"
  ;;
headers)
  CC_JSON=$2 SRC=$3 CXX=$4
  shift 4
  cmd=$(grep '"command"' "$CC_JSON" | grep -F -- "-c $SRC/src/names.cc\"" | head -n 1)
  flags=$(echo "$cmd" | tr ' ' '\n' | grep -E '^-(I|D|std=)' | tr '\n' ' ')
  [ -n "$flags" ] || { echo "FAIL: no compile flags for src/names.cc in $CC_JSON"; exit 1; }
  n=0
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for h in "$@"; do
    n=$((n + 1))
    echo "#include \"$h\"" > "$tmp/tu.cc"
    # shellcheck disable=SC2086
    if ! "$CXX" $flags -fsyntax-only "$tmp/tu.cc" 2> "$tmp/err"; then
      echo "FAIL: $h does not compile alone"; cat "$tmp/err"; fail=1
    fi
    # shellcheck disable=SC2086
    "$CXX" $flags -E -dI -o "$tmp/tu.i" "$tmp/tu.cc" 2> "$tmp/err" || { cat "$tmp/err"; fail=1; }
    direct_denied_includes < "$tmp/tu.i" > "$tmp/out"
    if [ -s "$tmp/out" ]; then sed "s|^|FAIL: Linux-only header in $h's closure of sigrelay headers: |" "$tmp/out"; fail=1; fi
  done
  echo "checked $n public headers"
  ;;
*) echo "usage: $0 symbols|headers ..."; exit 2 ;;
esac
exit $fail
