"""TP-SCTS / TP-DT service-centre timestamps (TS 23.040 §9.2.3.11): 7 swapped semi-octets, quarter-hour zone.

Converts to aware datetimes carrying the offset the SC sent; never converts to UTC or local time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gatewayd.sms.octets import OctetReader

TIMESTAMP_OCTETS = 7
_QUARTER_HOUR = timedelta(minutes=15)
_NEGATIVE_ZONE_BIT = 0x08  # bit 3 of the zone octet, i.e. the top bit of its first (tens) semi-octet
_MAX_ZONE_QUARTERS = 79  # two BCD digits with the tens digit limited to 3 bits


def _swapped_bcd(octet: int) -> int | None:
    tens, units = octet & 0x0F, octet >> 4
    if tens > 9 or units > 9:
        return None
    return tens * 10 + units


def read_timestamp(reader: OctetReader, field: str) -> datetime:
    """Read 7 octets YY MM DD hh mm ss zone; PduError if a digit or the date itself is impossible."""
    start = reader.position
    raw = reader.take(TIMESTAMP_OCTETS, field)
    values = [_swapped_bcd(octet) for octet in raw[:6]]
    zone_octet = raw[6]
    zone_quarters = _swapped_bcd(zone_octet & ~_NEGATIVE_ZONE_BIT)
    if zone_quarters is None or any(value is None for value in values):
        raise reader.error(f"{field} {raw.hex().upper()} (from octet {start}) is not BCD")
    year, month, day, hour, minute, second = (value or 0 for value in values)
    sign = -1 if zone_octet & _NEGATIVE_ZONE_BIT else 1
    try:
        zone = timezone(sign * zone_quarters * _QUARTER_HOUR)
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as error:
        raise reader.error(f"{field} {raw.hex().upper()} (from octet {start}): {error}") from None


def encode_timestamp(moment: datetime) -> bytes:
    """Aware datetime (years 2000..2099, whole quarter-hour offset) to 7 octets; microseconds are dropped."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"timestamp {moment!r} must be timezone-aware")
    quarters, remainder = divmod(abs(offset), _QUARTER_HOUR)
    if remainder or quarters > _MAX_ZONE_QUARTERS:
        raise ValueError(f"timestamp offset {offset} is not a whole number of quarter hours within ±19:45")
    if not 2000 <= moment.year <= 2099:
        raise ValueError(f"timestamp year {moment.year} is outside 2000..2099")
    fields = (moment.year - 2000, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    octets = [(value % 10) << 4 | (value // 10) for value in fields]
    zone = (quarters % 10) << 4 | (quarters // 10)
    if offset < timedelta(0):
        zone |= _NEGATIVE_ZONE_BIT
    return bytes(octets + [zone])
