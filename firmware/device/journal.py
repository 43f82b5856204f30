# The flash journal: every reading is written here before it is sent, and stays until the server
# says (ack watermark) that it is durably stored. A ring of fixed-size, checksummed records in one
# preallocated file, so a write touches one record and the file never grows.
#
#   header (16 bytes):  b"TRJ1"  u32 slots  u32 record size  u32 0
#   record (48 bytes):  u8 0xA5, u8 opt, u8 dim, u8 0, u32 seq, u32 ts, u32 p_dW, u32 i_mA,
#                       u16 v_dV, u16 pf_permille, u32 e_dWh, u32 flags, u32 cv, i16 t_ddegC,
#                       u16 0, u32 0, u32 crc32(bytes 0..43)
#   opt bit 0: t present, bit 1: cv present
#
# Record for seq s lives in slot s % slots, so the newest records overwrite the oldest. If those
# were not yet acknowledged they are lost: the journal counts them, and lost() names the range so
# the firmware can tell the server (a journal-drop event) to move its watermark past them.
#
# After a power cut the ring is scanned: the highest seq with a good checksum continues the
# sequence. A record torn by the cut fails its checksum and is ignored; it was never sent, because
# readings are sent only after their record is written.
#
# The watermark and the drop count live in <path>.meta (atomic JSON), written at most once per
# META_MS: a stale watermark after a crash only means some readings are sent twice, and the server
# stores readings idempotently on (lamp, seq).

import binascii
import struct

import store

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

_HDR = const(16)
_REC = const(48)
_BODY = const(44)
_MAGIC = const(0xA5)
_FMT = "<BBBBIIIIHHIIIhHI"
_SCAN = const(32)  # records read per chunk while scanning
T_NONE = const(-32768)
META_MS = const(60000)


class Journal:
    def __init__(self, path: str, slots: int = 4096) -> None:
        self.path = path
        self.slots = slots
        self.watermark = 0  # highest seq the server has stored
        self.next_seq = 1
        self.dropped = 0  # readings overwritten before they were acknowledged (lifetime)
        self._floor = 0
        self._dirty = False
        self._buf = bytearray(_REC)
        self._f = self._open()
        self._load_meta()
        self._scan()

    # --- file --------------------------------------------------------------------------------
    def _open(self) -> object:
        hdr = bytearray(_HDR)
        try:
            f = open(self.path, "r+b")
            n = f.readinto(hdr)
            if n == _HDR and hdr[:4] == b"TRJ1":
                slots, rec = struct.unpack_from("<II", hdr, 4)
                if slots == self.slots and rec == _REC:
                    return f
            f.close()
        except OSError:
            pass
        # New (or differently sized) journal: write the header and reserve every slot up front,
        # so appending never needs the file system to find space.
        with open(self.path, "wb") as w:
            struct.pack_into("<4sIII", hdr, 0, b"TRJ1", self.slots, _REC, 0)
            w.write(hdr)
            zero = bytearray(_REC * _SCAN)
            left = self.slots
            while left > 0:
                n = _SCAN if left > _SCAN else left
                w.write(memoryview(zero)[: n * _REC])
                left -= n
        return open(self.path, "r+b")

    def _load_meta(self) -> None:
        m = store.load(self.path + ".meta", {})
        if isinstance(m, dict):
            self.watermark = int(m.get("wm", 0))
            self.dropped = int(m.get("dropped", 0))
            self._floor = int(m.get("floor", 0))

    def _scan(self) -> None:
        f = self._f
        chunk = bytearray(_REC * _SCAN)
        mv = memoryview(chunk)
        top = 0
        slot = 0
        f.seek(_HDR)  # type: ignore[attr-defined]
        while slot < self.slots:
            n = f.readinto(chunk) // _REC  # type: ignore[attr-defined]
            if n <= 0:
                break
            for k in range(n):
                off = k * _REC
                if chunk[off] != _MAGIC:
                    continue
                (crc,) = struct.unpack_from("<I", chunk, off + _BODY)
                if binascii.crc32(mv[off : off + _BODY]) != crc:
                    continue
                (seq,) = struct.unpack_from("<I", chunk, off + 4)
                if seq % self.slots == slot + k and seq > top:
                    top = seq
            slot += n
        nxt = top + 1
        if self._floor > nxt:
            nxt = self._floor
        if self.watermark + 1 > nxt:
            nxt = self.watermark + 1
        self.next_seq = nxt

    # --- writing -----------------------------------------------------------------------------
    def append(self, ts: int, p_dw: int, v_dv: int, i_ma: int, pf: int, e_dwh: int, dim: int,
               t: int, flags: int, cv: int) -> int:
        """Writes one reading; returns its seq. t = T_NONE, cv < 0: absent."""
        seq = self.next_seq
        if seq - self.slots > self.watermark:
            self.dropped += 1
            self._dirty = True
        b = self._buf
        opt = (1 if t != T_NONE else 0) | (2 if cv >= 0 else 0)
        struct.pack_into(_FMT, b, 0, _MAGIC, opt, dim, 0, seq, ts, p_dw, i_ma, v_dv, pf, e_dwh,
                         flags, cv if cv >= 0 else 0, t if t != T_NONE else 0, 0, 0)
        struct.pack_into("<I", b, _BODY, binascii.crc32(memoryview(b)[:_BODY]))
        f = self._f
        f.seek(_HDR + (seq % self.slots) * _REC)  # type: ignore[attr-defined]
        f.write(b)  # type: ignore[attr-defined]
        f.flush()  # type: ignore[attr-defined]
        self.next_seq = seq + 1
        return seq

    def ack(self, seq: int) -> bool:
        """Applies the server's watermark; True when it moved. A watermark beyond anything written
        means this journal was wiped while the server remembers the lamp: continue after it."""
        if seq <= self.watermark:
            return False
        self.watermark = seq
        if seq >= self.next_seq:
            self.next_seq = seq + 1
            self._floor = self.next_seq
            self.persist(True)
        self._dirty = True
        return True

    def persist(self, force: bool = False) -> None:
        """Writes the meta file if anything changed (the caller paces this, META_MS apart)."""
        if not self._dirty and not force:
            return
        self._dirty = False
        store.save(self.path + ".meta", {"wm": self.watermark, "dropped": self.dropped,
                                         "floor": self._floor})

    def close(self) -> None:
        self.persist(True)
        self._f.close()  # type: ignore[attr-defined]

    # --- reading -----------------------------------------------------------------------------
    def pending(self) -> int:
        return self.next_seq - 1 - self.watermark

    def oldest(self) -> int:
        """The first seq after the watermark that is still in the ring."""
        lo = self.next_seq - self.slots
        return lo if lo > self.watermark + 1 else self.watermark + 1

    def lost(self) -> tuple[int, int]:
        """(first, last) seqs above the watermark that were overwritten; (0, 0) when none."""
        lo = self.oldest()
        if lo > self.watermark + 1:
            return (self.watermark + 1, lo - 1)
        return (0, 0)

    def read(self, seq: int) -> tuple:  # type: ignore[type-arg]  # the codec's Reading
        """The reading `seq` as the codec's tuple (seq, ts, p, v, i, pf, e, dim, t, f, cv), or
        () when it is not in the ring (overwritten, never written, or damaged)."""
        if seq >= self.next_seq or seq < self.next_seq - self.slots or seq <= 0:
            return ()
        b = self._buf
        f = self._f
        f.seek(_HDR + (seq % self.slots) * _REC)  # type: ignore[attr-defined]
        if f.readinto(b) != _REC or b[0] != _MAGIC:  # type: ignore[attr-defined]
            return ()
        (crc,) = struct.unpack_from("<I", b, _BODY)
        if binascii.crc32(memoryview(b)[:_BODY]) != crc:
            return ()
        r = struct.unpack_from(_FMT, b, 0)
        if r[4] != seq:
            return ()
        opt = r[1]
        return (
            seq,
            r[5],
            r[6] / 10,
            r[8] / 10,
            r[7] / 1000,
            r[9] / 1000,
            r[10] / 10,
            r[2],
            r[13] / 10 if opt & 1 else None,
            r[11],
            r[12] if opt & 2 else None,
        )
