"""Stable identity of a received SMS part, used to store the same PDU read twice only once.

Pure hashing: it decides nothing about storage.
"""

from __future__ import annotations

import hashlib


def message_identity(sim_key: str, tpdu_hex: str) -> str:
    """Hex SHA-256 of the SIM key and the TPDU (which carries sender, SC timestamp, UDH and text).

    The TPDU is normalised (case, whitespace) so the same octets printed differently give one identity; the
    SMSC part is not included because modems differ in whether they print it.
    """
    normalised = "".join(tpdu_hex.split()).upper()
    digest = hashlib.sha256()
    digest.update(sim_key.encode("utf-8"))
    digest.update(b"\x00")  # separator: ("ab", "C0...") and ("a", "bC0...") must differ
    digest.update(normalised.encode("ascii", errors="replace"))
    return digest.hexdigest()
