"""``pemove bench``: what tracking costs, how fast a move is, how long IO stalls.

The host part (:mod:`pemove.bench.cli`) boots one VM with :func:`pemove.vm.run`
and runs :mod:`pemove.bench.guest` inside it, which measures every candidate
side by side on the same brd RAM disks (:mod:`.iopath`, :mod:`.move`,
:mod:`.stall`, :mod:`.memory`, on :mod:`.devices`, with :mod:`.fio` and
:mod:`.lvm`) and writes one JSON document.  The host then reduces it
(:mod:`.aggregate`, :mod:`.stats`), judges the targets (:mod:`.targets`),
writes the JSON, a Markdown summary (:mod:`.markdown`) and PNG plots
(:mod:`.plots`), and prints the summary.  :mod:`.common` holds what both
sides share: the phase names, the result file, the log helper.

Benchmarks are scripts that produce data; nothing here asserts a timing.
"""
