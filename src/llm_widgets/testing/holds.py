"""Ways for a test to hold a run in a known state, whatever the machine's speed."""

from __future__ import annotations

# A GBNF grammar (the `grammar` generation parameter) under which an answer never ends: the
# model may only write "a", again and again, and the end of the answer is never allowed. Such an
# answer runs until Stop (or `max_tokens`), so a test that stops a running answer cannot find it
# already over.
NEVER_ENDS = 'root ::= "a" root\n'
