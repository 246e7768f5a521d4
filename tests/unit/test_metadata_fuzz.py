"""Hypothesis feeds random and mutated metadata areas to the parser: it refuses or returns, never crashes."""

from __future__ import annotations

import json
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from pemove.metadata import layout, parser
from pemove.metadata.model import PE, LVRecord

PV = uuid.UUID(int=0xA)
GOOD = LVRecord(
    name="lv0",
    uuid=uuid.UUID(int=7),
    generation=3,
    extent_sectors=2048,
    pvs=(PV,),
    map=(PE(0, 2048), PE(0, 4096)),
)
GOOD_BODY = parser.encode(PV, [GOOD])


def _parse_area(area: bytes) -> None:
    try:
        header, body = layout.unpack_slot(area)
    except layout.FramingError:
        return
    try:
        lvs = parser.parse(body, header.pv_uuid)
    except parser.BodyError:
        return
    # Whatever parses must survive its own encoding unchanged.
    assert parser.parse(parser.encode(header.pv_uuid, lvs), header.pv_uuid) == lvs


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=9000))
def test_random_areas(area: bytes) -> None:
    _parse_area(area)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=len(GOOD_BODY) + 64))
def test_random_bodies_with_valid_framing(body: bytes) -> None:
    _parse_area(layout.pack_slot(1, PV, body))


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(GOOD_BODY) - 1), st.integers(0, 255)), max_size=8
    )
)
def test_mutated_bodies(edits: list[tuple[int, int]]) -> None:
    body = bytearray(GOOD_BODY)
    for offset, value in edits:
        body[offset] = value
    _parse_area(layout.pack_slot(1, PV, bytes(body)))


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(json.loads(GOOD_BODY)["lvs"][0])), _json)
def test_one_field_replaced_by_any_json(key: str, value: object) -> None:
    doc = json.loads(GOOD_BODY)
    doc["lvs"][0][key] = value
    body = json.dumps(doc).encode()
    _parse_area(layout.pack_slot(1, PV, body))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, layout.BLOCK - 1), st.integers(0, 255)), max_size=6
    )
)
def test_mutated_labels(edits: list[tuple[int, int]]) -> None:
    block = bytearray(layout.pack_label(layout.Label(PV)))
    for offset, value in edits:
        block[offset] = value
    try:
        label = layout.unpack_label(bytes(block))
        assert layout.pack_label(label) == bytes(block)
    except layout.FramingError:
        pass
