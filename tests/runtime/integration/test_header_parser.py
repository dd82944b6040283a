"""The NATS client's header parser (acci.integration.jetstream._Client): ACCI replaces nats-py's
with a cheaper one, which must read every header block exactly as nats-py's own does, and must
still be the one nats-py calls."""

from __future__ import annotations

import inspect

from acci.integration.envelope import envelope_headers
from acci.integration.jetstream import _Client
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from tests.runtime.integration.helpers import recorded_order_placed

# Header lines as they come, and as they might come broken: names with white space of every kind
# str.isspace() knows (\x1c..\x1f among them), non-ASCII names, missing colons, empty lines.
_NAME = st.text(alphabet=st.characters(max_codepoint=0x2030), max_size=12)
_VALUE = st.text(max_size=20)
_LINE = st.one_of(
    st.builds(lambda n, v: f"{n}: {v}".encode(errors="surrogatepass"), _NAME, _VALUE),
    st.builds(lambda n, v: f"{n}:{v}".encode(errors="surrogatepass"), _NAME, _VALUE),
    st.binary(max_size=24),
    st.sampled_from([b"", b"Name:\tvalue", b"Na me: x", b"Nats-Msg-Id:  1 ", b"X\x1fY: z", b":"]),
)


@settings(max_examples=150)
@given(st.lists(_LINE, max_size=8))
def test_it_reads_any_header_block_as_nats_py_does(lines: list[bytes]) -> None:
    raw = b"\r\n".join(lines) + b"\r\n\r\n"
    assert _Client._parse_header_lines(raw) == Client._parse_header_lines(raw)


def test_it_reads_the_envelope() -> None:
    event = recorded_order_placed(aggregate_id="o-1 ü", user_id="Zoë")
    headers = envelope_headers("orders", event, "OrderPlaced", 1)
    raw = b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items()) + b"\r\n"
    assert _Client._parse_header_lines(raw) == Client._parse_header_lines(raw) == headers


def test_nats_py_still_parses_headers_through_the_method_acci_replaces() -> None:
    # Should nats-py rename it, the replacement would be dead code: this says so.
    assert "self._parse_header_lines(" in inspect.getsource(Client._process_headers)
