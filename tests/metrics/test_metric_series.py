"""metric_series families expose what prometheus_client's Counter and Histogram expose for the same
observations, byte for byte apart from the `_created` timestamps."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gatewayd.metric_series import LabelledCounter, LabelledHistogram

BUCKETS = (0.01, 0.1, 1.0, 10.0)
OBSERVATIONS = [(("p1", "AT+CSQ"), 0.004), (("p1", "AT+CSQ"), 0.01), (("p2", "AT+CMGL"), 0.5),
                (("p1", "AT+CMGL"), 12.0), (("p2", "AT+CMGL"), 1e-9), (("p1", "AT+CSQ"), 3.25)]  # fmt: skip


def without_created_values(text: bytes) -> str:
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", text.decode())


def test_a_histogram_scrapes_like_prometheus_clients() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("x_duration_seconds", "Help.", ["port", "command"], buckets=BUCKETS,
                          registry=theirs)  # fmt: skip
    histogram = LabelledHistogram("x_duration_seconds", "Help.", ["port", "command"], buckets=BUCKETS,
                                  registry=ours)  # fmt: skip
    for labels, seconds in OBSERVATIONS:
        reference.labels(*labels).observe(seconds)
        histogram.observe(labels, seconds)
    expected = without_created_values(generate_latest(theirs))
    assert 'le="+Inf"' in expected and "_created{" in expected
    assert without_created_values(generate_latest(ours)) == expected


def test_a_counter_scrapes_like_prometheus_clients() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Counter("x_commands", "Help.", ["port", "outcome"], registry=theirs)
    counter = LabelledCounter("x_commands", "Help.", ["port", "outcome"], registry=ours)
    for labels, amount in [(("p1", "ok"), 1), (("p2", "timeout"), 1), (("p1", "ok"), 3), (("p3", "ok"), 0)]:
        reference.labels(*labels).inc(amount)
        counter.inc(labels, amount)
    assert without_created_values(generate_latest(ours)) == without_created_values(generate_latest(theirs))
    with pytest.raises(ValueError):
        counter.inc(("p1", "ok"), -1)


def test_a_name_taken_twice_in_one_registry_is_refused_as_before() -> None:
    registry = CollectorRegistry(auto_describe=True)
    LabelledCounter("x_commands", "Help.", ["port"], registry=registry)
    with pytest.raises(ValueError):
        Counter("x_commands", "Help.", ["port"], registry=registry)
