"""KTAP parsing: KUnit's results become one case each, failures with their diagnostics."""

from __future__ import annotations

from pemove.vm import ktap

# The layout of /sys/kernel/debug/kunit/<suite>/results (Documentation/dev-tools/ktap.rst).
SUITE = """\
KTAP version 1
# Subtest: pemove_extent
# module: pemove_kunit
1..4
    ok 1 pemove_test_devt
        # pemove_test_overlap: EXPECTATION FAILED at pemove_kunit_tests.c:40
        Expected a == b, but
            a == 1 (0x1)
    not ok 2 pemove_test_overlap
    ok 3 pemove_test_keys # SKIP needs a zoned disk
        KTAP version 1
        # Subtest: pemove_test_chunk_size
        ok 1 8
        not ok 2 4096
    not ok 4 pemove_test_chunk_size
# pemove_extent: pass:1 fail:2 skip:1 total:4
not ok 1 pemove_extent
"""


def test_each_leaf_is_a_case_with_its_status():
    cases = ktap.parse(SUITE)
    assert [(c.id, c.status) for c in cases] == [
        ("pemove_extent.pemove_test_devt", "pass"),
        ("pemove_extent.pemove_test_overlap", "fail"),
        ("pemove_extent.pemove_test_keys", "skip"),
        ("pemove_extent.pemove_test_chunk_size/8", "pass"),
        ("pemove_extent.pemove_test_chunk_size/4096", "fail"),
    ]


def test_a_failure_keeps_its_diagnostics_and_a_skip_its_reason():
    cases = {c.name: c for c in ktap.parse(SUITE)}
    overlap = cases["pemove_test_overlap"]
    assert overlap.diagnostics[0].startswith(
        "# pemove_test_overlap: EXPECTATION FAILED"
    )
    assert "a == 1 (0x1)" in overlap.diagnostics
    assert cases["pemove_test_devt"].diagnostics == ()
    assert cases["pemove_test_keys"].reason == "needs a zoned disk"


def test_kernel_log_lines_and_a_suite_without_cases():
    log = [
        "[   12.000001] KTAP version 1\n",
        "[   12.000002] 1..1\n",
        "[   12.000003] # pemove_track: failed to initialise\n",
        "[   12.000004] not ok 1 pemove_track\n",
    ]
    (case,) = ktap.parse("\n".join(ktap.strip_kmsg(log)))
    assert (case.suite, case.name, case.status) == (
        "pemove_track",
        "pemove_track",
        "fail",
    )
    assert case.diagnostics == ("# pemove_track: failed to initialise",)
