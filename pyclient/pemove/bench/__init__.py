"""``pemove bench``: what tracking costs, how fast a move is, how long IO stalls.

The host part (:mod:`pemove.bench.cli`) boots one VM with the VM runner and
runs :mod:`pemove.bench.guest` inside it, which measures every candidate side
by side on the same brd RAM disks and writes one JSON document.  The host then
aggregates it (:mod:`pemove.bench.report`), writes the JSON, a Markdown summary
and PNG plots (:mod:`pemove.bench.plots`) and prints the summary.

Benchmarks are scripts that produce data; nothing here asserts a timing.
"""
