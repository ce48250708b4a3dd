"""Labelled counters and histograms for the many per-port series of the modem engine, exposed exactly as
prometheus_client's `Counter` and `Histogram` expose them (names, samples, order, `_created`), but each
series held as a few plain numbers. prometheus_client keeps a value object and a lock per bucket of every
labelled child: about 5 KiB per (port, command) histogram, 12-20 MiB at 256 modems (issue 3, peak RSS).

Event-loop only: no locks; the modem code observes and `/metrics` scrapes on the one loop thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


@dataclass(slots=True)
class _CounterSeries:
    value: float = 0.0
    created: float = field(default_factory=time.time)


@dataclass(slots=True)
class _HistogramSeries:
    bucket_counts: list[int]  # per upper bound, not cumulative (as observed)
    total: float = 0.0
    created: float = field(default_factory=time.time)


class LabelledCounter(Collector):
    """A counter family; `inc(labels)` with the label values in `labelnames` order."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 registry: CollectorRegistry) -> None:  # fmt: skip
        self._name = name.removesuffix("_total")
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], _CounterSeries] = {}
        registry.register(self)

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = _CounterSeries()
        series.value += amount

    def describe(self) -> list[Metric]:
        return [Metric(self._name, self._documentation, "counter")]

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self._name, self._documentation, "counter")
        for labels, series in self._series.items():
            named = dict(zip(self._labelnames, labels, strict=True))
            metric.add_sample(self._name + "_total", named, series.value)
            metric.add_sample(self._name + "_created", named, series.created)
        yield metric


class LabelledHistogram(Collector):
    """A histogram family with fixed buckets (+Inf added); `observe(labels, value)`."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 buckets: Sequence[float], registry: CollectorRegistry) -> None:  # fmt: skip
        bounds = [float(bound) for bound in buckets]
        if bounds != sorted(bounds):
            raise ValueError("Buckets not in sorted order")
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._bounds = tuple(bounds)
        # The library's own formatting of `le`, so the labels match its Histogram's exactly.
        self._le = tuple(floatToGoString(bound) for bound in bounds)  # type: ignore[no-untyped-call]
        self._series: dict[tuple[str, ...], _HistogramSeries] = {}
        registry.register(self)

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = _HistogramSeries([0] * len(self._bounds))
        series.total += value
        for index, bound in enumerate(self._bounds):
            if value <= bound:
                series.bucket_counts[index] += 1
                break

    def describe(self) -> list[Metric]:
        return [Metric(self._name, self._documentation, "histogram")]

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self._name, self._documentation, "histogram")
        for labels, series in self._series.items():
            named = dict(zip(self._labelnames, labels, strict=True))
            cumulative = 0.0
            for le, count in zip(self._le, series.bucket_counts, strict=True):
                cumulative += count
                metric.add_sample(self._name + "_bucket", {**named, "le": le}, cumulative)
            metric.add_sample(self._name + "_count", named, cumulative)
            if self._bounds[0] >= 0:
                metric.add_sample(self._name + "_sum", named, series.total)
            metric.add_sample(self._name + "_created", named, series.created)
        yield metric
