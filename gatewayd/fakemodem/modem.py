"""A sans-IO emulated GSM modem in PDU mode (SIM800/SIM7600-like): bytes in, bytes out, no I/O, no asyncio.

Theory of operation: `receive_data` runs a byte-at-a-time state machine (command line ↔ PDU entry after
AT+CMGS) and appends everything the modem would print — echo, responses, URCs — to one output buffer that
`data_to_send` drains, so any chunking of the same input yields the same output. SMS "from the network"
come in through `inject_sms`/`deliver_pdus`; while SIM storage is full the network holds them, FIFO.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING

from gatewayd.fakemodem.commandline import CommandLineError, find_command_body, split_commands
from gatewayd.fakemodem.commands import SIM_COMMANDS, ModemSettings, find_handler, tpdu_length
from gatewayd.fakemodem.dialect import NO_FAULTS, SIMCOM_SIM800, ModemDialect, ModemFaults
from gatewayd.fakemodem.errors import AtError, CmeError, CmsError, PlainError, format_error
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.simlock import SimLock
from gatewayd.fakemodem.storage import SimStorage, StoredMessage

if TYPE_CHECKING:
    from gatewayd.sms.pdu import Encoding

CR, LF, BACKSPACE, CTRL_Z, ESCAPE = 0x0D, 0x0A, 0x08, 0x1A, 0x1B
# SIM800's command-line buffer (SIM800 Series AT Command Manual §1.4.1: up to 556 characters).
MAX_COMMAND_LINE = 556
# The longest SMS-SUBMIT with a 12-octet SMSC prefix is 1 + 12 + 164 octets; allow generous slack.
MAX_PDU_HEX = 2 * (1 + 12 + 180)


class _InputMode(Enum):
    COMMAND = "command"
    PDU_ENTRY = "pdu-entry"


@dataclass(frozen=True)
class SubmittedMessage:
    mr: int
    pdu: str


class FakeModem:
    """One emulated modem with its SIM. Not thread-safe; one owner feeds it and drains it."""

    def __init__(
        self,
        identity: ModemIdentity,
        *,
        storage_size: int = 30,
        echo: bool = True,
        clock: Callable[[], datetime] | None = None,
        dialect: ModemDialect = SIMCOM_SIM800,
    ) -> None:
        self.identity: ModemIdentity = identity
        self.dialect = dialect
        self.faults: ModemFaults = NO_FAULTS
        self.signal_rssi: int = 20  # +CSQ <rssi>: 0..31, 99 unknown (TS 27.007 §8.5)
        self.registration: int = 1  # +CREG <stat>: 1 registered home network
        self.sim_lock: SimLock = SimLock()  # no PIN; `modem.sim_lock = SimLock(pin="1234")` locks the SIM
        self.commands_seen: Counter[str] = Counter()  # command name ("+CNMA") → times executed
        self._clock = clock or (lambda: datetime.now(UTC))
        self._default_echo = echo
        self._settings = ModemSettings(echo=echo)
        self._sim = SimStorage(storage_size, first_index=dialect.storage_first_index)
        self._out = bytearray()
        self._line = bytearray()
        self._line_overflowed = False
        self._mode = _InputMode.COMMAND
        self._pdu_expected_length = 0
        self._pdu_hex = bytearray()
        self._held_urcs: list[str] = []
        self._network_queue: deque[str] = deque()
        self._submitted: list[SubmittedMessage] = []
        self._next_mr = 0
        self._next_concat_reference = 0
        self._noise_position = 0
        self._reboot_after_final = False
        self._executing = False
        # Told about every message AT+CMGD removes (benchmarks time custody with it); never changes anything.
        self.on_deleted: Callable[[StoredMessage], None] | None = None

    # --- observation -----------------------------------------------------------------------------

    @property
    def settings(self) -> ModemSettings:
        return self._settings

    @property
    def storage(self) -> tuple[StoredMessage, ...]:
        """Snapshot of the SIM's stored messages, by index."""
        return self._sim.snapshot()

    @property
    def storage_used(self) -> int:
        return self._sim.used

    @property
    def storage_total(self) -> int:
        return self._sim.total

    @property
    def submitted(self) -> tuple[SubmittedMessage, ...]:
        """PDUs the daemon sent with AT+CMGS, in order, with the TP-MR the modem answered."""
        return tuple(self._submitted)

    @property
    def held_by_network(self) -> int:
        """Parts the network still holds because storage was full."""
        return len(self._network_queue)

    @property
    def in_pdu_entry(self) -> bool:
        return self._mode is _InputMode.PDU_ENTRY

    @property
    def sim(self) -> SimStorage:
        """The SIM storage itself, for the command handlers; tests should prefer `storage`."""
        return self._sim

    # --- the byte stream ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.faults.mute:
            return
        for byte in data:
            if self._mode is _InputMode.PDU_ENTRY:
                self._receive_pdu_byte(byte)
            else:
                self._receive_command_byte(byte)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def _receive_command_byte(self, byte: int) -> None:
        if self._settings.echo:
            self._out.append(byte)
        if byte == CR:
            line = self._line.decode("latin-1")
            overflowed = self._line_overflowed
            self._line.clear()
            self._line_overflowed = False
            if overflowed:
                self._write_final(format_error(PlainError(), self._settings.cmee))
            else:
                self._execute_line(line)
        elif byte == LF:
            return  # V.250 §5.2.1: a line feed after the terminator is not part of the next command
        elif byte == BACKSPACE:
            if self._line:
                self._line.pop()
        elif len(self._line) >= MAX_COMMAND_LINE:
            self._line_overflowed = True
        else:
            self._line.append(byte)

    def _receive_pdu_byte(self, byte: int) -> None:
        if byte == CTRL_Z:
            self._finish_pdu_entry()
        elif byte == ESCAPE:
            # TS 27.005 §3.5.1: <ESC> quits without sending.
            self._leave_pdu_entry()
            self._write_final("OK")
            self._after_final()
        elif byte in (CR, LF):
            return
        else:
            if self._settings.echo:
                self._out.append(byte)
            if len(self._pdu_hex) < MAX_PDU_HEX:
                self._pdu_hex.append(byte)

    # --- command execution -------------------------------------------------------------------------

    def _execute_line(self, line: str) -> None:
        body = find_command_body(line)
        if body is None:
            return  # no "AT" on the line: a modem ignores it
        self._executing = True
        try:
            final = self._run_commands(body)
        finally:
            self._executing = False
        if final is None:
            self._write_raw(b"\r\n> ")
            return
        self._write_final(final)
        self._after_final()

    def _run_commands(self, body: str) -> str | None:
        """Run each command of a line; the final result line, or None when AT+CMGS now awaits a PDU."""
        try:
            commands = split_commands(body)
        except CommandLineError:
            return format_error(PlainError(), self._settings.cmee)
        for command in commands:
            self.commands_seen[command.name] += 1
            handler = find_handler(self, command)
            try:
                if command.name in self.faults.command_errors:
                    raise CmsError(self.faults.command_errors[command.name])
                if handler is None:
                    raise CmeError(100)  # printed as plain ERROR while AT+CMEE=0
                if command.name in SIM_COMMANDS:
                    self.sim_lock.require_ready()
                lines = handler(self, command)
            except AtError as error:
                return format_error(error, self._settings.cmee)
            if lines:
                self._write_info(lines)
            if self._mode is _InputMode.PDU_ENTRY:
                return None  # V.250: the rest of a line after a command that prompts is not executed
        return "OK"

    def begin_pdu_entry(self, expected_length: int) -> None:
        """AT+CMGS=<length> accepted: print the prompt and collect hex until Ctrl-Z."""
        self._mode = _InputMode.PDU_ENTRY
        self._pdu_expected_length = expected_length
        self._pdu_hex.clear()

    def _leave_pdu_entry(self) -> None:
        self._mode = _InputMode.COMMAND
        self._pdu_hex.clear()

    def _finish_pdu_entry(self) -> None:
        pdu = self._pdu_hex.decode("latin-1").upper()
        expected = self._pdu_expected_length
        self._leave_pdu_entry()
        if command_error := self.faults.command_errors.get("+CMGS"):
            self._write_final(format_error(CmsError(command_error), self._settings.cmee))
        elif not _is_submit_pdu(pdu, expected):
            # TS 27.005 §3.2.5: 304 "invalid PDU mode parameter"
            self._write_final(format_error(CmsError(304), self._settings.cmee))
        else:
            mr = self._next_mr
            self._next_mr = (mr + 1) % 256
            self._submitted.append(SubmittedMessage(mr, pdu))
            self._write_info([f"+CMGS: {mr}"])
            self._write_final("OK")
        self._after_final()

    # --- output framing ------------------------------------------------------------------------------

    def _write_raw(self, data: bytes) -> None:
        if self.faults.garbage_before_reply:
            self._out += self.faults.garbage_before_reply
        self._out += data

    def _write_info(self, lines: Sequence[str]) -> None:
        self._write_raw(("\r\n" + "\r\n".join(lines) + "\r\n").encode("latin-1"))

    def _write_final(self, result: str) -> None:
        self._write_raw(f"\r\n{result}\r\n".encode("latin-1"))

    def emit_unsolicited(self, lines: Sequence[str]) -> None:
        """Print a URC (one or two lines, as +CMT). Held back while a command runs or a PDU is being typed,
        then printed after the final result, so a URC never splits a response (TS 27.005 §3.4.1 <mode>=2)."""
        if self.faults.mute:
            return
        if self._executing or self._mode is _InputMode.PDU_ENTRY:
            self._held_urcs.append("\r\n".join(lines))
            return
        self._write_info(lines)

    def emit_noise(self) -> bool:
        """Print the dialect's next vendor noise line (^RSSI ...); False when the dialect has none."""
        if not self.dialect.noise_lines:
            return False
        line = self.dialect.noise_lines[self._noise_position % len(self.dialect.noise_lines)]
        self._noise_position += 1
        self.emit_unsolicited([line])
        return True

    def _after_final(self) -> None:
        held, self._held_urcs = self._held_urcs, []
        for urc in held:
            self._write_info([urc])
        if self._reboot_after_final:
            self._reboot_after_final = False
            self.reboot()

    # --- lifecycle -------------------------------------------------------------------------------------

    def reset_settings(self) -> None:
        """ATZ / AT&F / power cycle: volatile settings back to defaults; the SIM keeps its messages."""
        self._settings = ModemSettings(echo=self._default_echo)

    def update_settings(self, **changes: object) -> None:
        self._settings = replace(self._settings, **changes)  # type: ignore[arg-type]

    def request_reboot(self) -> None:
        """Restart once the current command's final result is out (AT+CFUN=1,1)."""
        self._reboot_after_final = True

    def reboot(self, *, announce: bool = True) -> None:
        """A firmware reset (AT+CFUN=1,1, a crash): drops half-typed input, resets settings, prints RDY."""
        self._line.clear()
        self._leave_pdu_entry()
        self._held_urcs.clear()
        self.reset_settings()
        self.sim_lock.power_cycle()
        if announce:
            for line in self.dialect.boot_lines:
                self.emit_unsolicited([line])

    # --- the network side ------------------------------------------------------------------------------

    def next_concat_reference(self) -> int:
        reference = self._next_concat_reference
        self._next_concat_reference = (reference + 1) % 256
        return reference

    def now(self) -> datetime:
        return self._clock()

    def inject_sms(
        self,
        sender: str,
        payload: str | bytes,
        *,
        encoding: Encoding | None = None,
        reference: int | None = None,
    ) -> list[int]:
        """An SMS from the network: split into parts, each stored and announced; returns stored indexes."""
        from gatewayd.fakemodem.network import encode_incoming

        pdus = encode_incoming(self, sender, payload, encoding=encoding, reference=reference)
        return self.deliver_pdus(pdus)

    def deliver_pdus(self, pdus: Sequence[str]) -> list[int]:
        """SMS-DELIVER PDUs (hex with SMSC prefix) arriving from the network, in order."""
        stored: list[int] = []
        for pdu in pdus:
            if self._settings.mt == 2:
                # TS 27.005 §3.4.1 <mt>=2: routed straight to the TE as +CMT, not stored.
                self.emit_unsolicited([f"+CMT: ,{tpdu_length(pdu)}", pdu])
                continue
            self._network_queue.append(pdu)
            stored += self.drain_network_queue()
        return stored

    def report_delivery(self, mr: int, status: int = 0) -> bool:
        """The SC reports on the last message sent with TP-MR `mr` (TP-ST `status`, 0 = delivered). Printed
        as `+CDS: <length>` plus the PDU when it asked for a report and AT+CNMI ds=1, stored and announced
        as `+CDSI` with ds=2 (TS 27.005 §3.4.1); False when nothing was reported."""
        from gatewayd.fakemodem.network import encode_delivery_report

        sent = next((s for s in reversed(self._submitted) if s.mr == mr), None)
        if sent is None:
            raise LookupError(f"no message was submitted with TP-MR {mr}")
        report = encode_delivery_report(self, sent.pdu, mr, status)
        ds = self._settings.new_message_indication[3]
        if report is None or ds not in (1, 2):
            return False
        if ds == 2:
            # TS 27.005 §3.4.1 <ds>=2: stored, announced as +CDSI: <mem>,<index>.
            index = self._sim.store(report)
            if index is None:
                return False
            self.emit_unsolicited([f'+CDSI: "{self.dialect.memories[0]}",{index}'])
            return True
        self.emit_unsolicited([f"+CDS: {tpdu_length(report)}", report])
        return True

    def drain_network_queue(self) -> list[int]:
        """Store held parts while slots are free (an SC retrying); called after every delete."""
        stored: list[int] = []
        while self._network_queue and not self._sim.is_full:
            index = self._sim.store(self._network_queue.popleft())
            assert index is not None  # guarded by is_full
            stored.append(index)
            if self._settings.mt in (1, 3):
                self.emit_unsolicited([f'+CMTI: "{self.dialect.memories[0]}",{index}'])
        return stored


def _is_submit_pdu(pdu: str, expected_length: int) -> bool:
    """Hex, SMSC prefix consistent, TPDU as long as announced, TP-MTI = SMS-SUBMIT (TS 23.040 §9.2.3.1)."""
    if len(pdu) < 4 or len(pdu) % 2 or any(c not in "0123456789ABCDEF" for c in pdu):
        return False
    smsc_octets = int(pdu[:2], 16)
    if len(pdu) < 2 * (smsc_octets + 2) or tpdu_length(pdu) != expected_length:
        return False
    first_octet = int(pdu[2 + 2 * smsc_octets : 4 + 2 * smsc_octets], 16)
    return first_octet & 0x03 == 0x01
