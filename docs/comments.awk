# SPDX-License-Identifier: MIT
# docs/comments.awk — Doxygen's INPUT_FILTER for sigrelay's headers (docs/Doxyfile.in).
#
# The headers are the manual, written in plain `//` comments: this filter hands them to Doxygen as
# they are, so the reference shows each comment verbatim (line breaks, examples and lists kept, no
# markup interpreted) with the declaration it precedes, without any change to the headers:
#   - a block of `//` lines becomes a `/** ... */` block wrapped in \verbatim ... \endverbatim; the
#     first block of the file (before any code) documents the file (\file, after the text);
#   - a comment after `;` or `,` on the same line (`int pid;  // sender`) documents that member or
#     enumerator (`/**< ... */`).
# Lines are never added or removed, so Doxygen's line numbers are the header's.
function flush() {
  if (n == 0) return
  for (i = 1; i <= n; i++) {
    line = buf[i]
    pre = line; sub(/\/\/.*/, "", pre)
    text = line; sub(/^[ \t]*\/\/ ?/, "", text)
    gsub(/\*\//, "* /", text)
    # Doxygen keeps a `///` or ` * ` prefix inside \verbatim: continuation lines get only the same
    # indentation, which Doxygen strips as the block's common indentation.
    out = pre (i == 1 ? "/** \\verbatim " : (text == "" ? "" : "    ")) text
    if (i == n) out = out " \\endverbatim" (seen_code ? "" : " \\file") " */"
    print out
  }
  n = 0
  seen_code = 1
}
{
  if ($0 ~ /^[ \t]*\/\//) {  # a whole-line comment
    buf[++n] = $0
    next
  }
  flush()
  if ($0 ~ /^[ \t]*#/ || $0 ~ /^[ \t]*$/) {  # preprocessor lines and blank lines
    if ($0 ~ /^[ \t]*#/ && $0 !~ /#pragma once/) seen_code = 1
    print
    next
  }
  seen_code = 1
  code = $0
  # A member's or enumerator's trailing comment (after `;` or `,`) documents it.
  if (match(code, /[;,][ \t]+\/\/ /) && substr(code, 1, RSTART) !~ /"/) {
    text = substr(code, RSTART + RLENGTH)
    gsub(/\*\//, "* /", text)
    print substr(code, 1, RSTART) "  /**< \\verbatim " text " \\endverbatim */"
  } else {
    print
  }
}
END { flush() }
