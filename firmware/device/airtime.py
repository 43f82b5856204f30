"""LoRa time on air (Semtech formula) and the AS923-2 facts the gateway and planner rely on.

Pure and MicroPython-compatible (no ``__future__``, no typing imports, no f-strings) so that the
firmware and the simulated radio compute airtime exactly as the gateway does.

The formula is the one of the SX127x datasheet / Semtech AN1200.13:

    T_sym      = 2**SF / BW
    T_preamble = (n_preamble + 4.25) * T_sym
    n_payload  = 8 + max(ceil((8*PL - 4*SF + 28 + 16*CRC - 20*IH) / (4*(SF - 2*DE))) * (CR + 4), 0)
    T_packet   = T_preamble + n_payload * T_sym

with PL the PHY payload length in bytes, CRC 1 when the payload CRC is on (LoRaWAN uplinks; downlinks
carry none), IH 1 for implicit header (never in LoRaWAN), DE the low-data-rate optimisation (mandatory
when T_sym >= 16 ms, i.e. SF11/SF12 at 125 kHz) and CR 1..4 for coding rate 4/5..4/8.

Published LoRaWAN airtime figures (e.g. "11 bytes at SF12/125 kHz take 1.48 s") count the
application payload plus the 13 bytes of LoRaWAN framing (MHDR 1, DevAddr 4, FCtrl 1, FCnt 2, FPort 1,
MIC 4), an 8-symbol preamble, explicit header, CRC on and coding rate 4/5.
"""

import math

# MHDR(1) + FHDR without FOpts (DevAddr 4, FCtrl 1, FCnt 2) + FPort(1) + MIC(4).
LORAWAN_OVERHEAD = 13
PREAMBLE_SYMBOLS = 8
BW_125K = 125000

# AS923 data rates at 125 kHz: DR0 = SF12 ... DR5 = SF7.
SF_MIN = 7
SF_MAX = 12

# AS923-2 (920-923 MHz, Indonesia): the two default channels 921.4/921.6 MHz plus six more at
# 200 kHz spacing, as network servers configure them after join. RX2 is 921.4 MHz at DR2 (SF10).
AS923_2_CHANNELS = (921400000, 921600000, 921800000, 922000000, 922200000, 922400000, 922600000,
                    922800000)
AS923_2_RX2_FREQ = 921400000
AS923_2_RX2_SF = 10

# Class A receive windows open 1 s (RX1, same channel and data rate) and 2 s (RX2) after the uplink ends.
RECEIVE_DELAY1_S = 1.0
RECEIVE_DELAY2_S = 2.0

# Maximum application payload (N, bytes) per spreading factor with the 400 ms dwell limit
# (UplinkDwellTime = 1) and without it, from LoRaWAN Regional Parameters RP002 for AS923.
# None: the data rate may not be used under the dwell limit at all.
MAX_APP_PAYLOAD_DWELL = {12: None, 11: None, 10: 11, 9: 53, 8: 125, 7: 242}
MAX_APP_PAYLOAD_NO_DWELL = {12: 51, 11: 51, 10: 51, 9: 115, 8: 242, 7: 242}

DWELL_LIMIT_S = 0.4
DUTY_CYCLE = 0.01


def check_sf(sf: int) -> None:
    if not isinstance(sf, int) or isinstance(sf, bool) or sf < SF_MIN or sf > SF_MAX:
        raise ValueError("sf must be an integer from 7 to 12, not " + repr(sf))


def symbol_time(sf: int, bw: int = BW_125K) -> float:
    """Seconds per LoRa symbol."""
    return (1 << sf) / bw


def low_data_rate_optimize(sf: int, bw: int = BW_125K) -> bool:
    # Semtech requires it when a symbol lasts 16 ms or more.
    return symbol_time(sf, bw) >= 0.016


def payload_symbols(phy_len: int, sf: int, bw: int = BW_125K, *, cr: int = 1, crc: bool = True,
                    implicit_header: bool = False) -> int:
    de = 1 if low_data_rate_optimize(sf, bw) else 0
    num = 8 * phy_len - 4 * sf + 28 + (16 if crc else 0) - (20 if implicit_header else 0)
    blocks = max(math.ceil(num / (4 * (sf - 2 * de))), 0)
    return 8 + blocks * (cr + 4)


def time_on_air(phy_len: int, sf: int, bw: int = BW_125K, *, cr: int = 1, crc: bool = True,
                preamble: int = PREAMBLE_SYMBOLS, implicit_header: bool = False) -> float:
    """Seconds on air for a PHY payload of ``phy_len`` bytes (LoRaWAN framing included)."""
    check_sf(sf)
    if phy_len < 0 or phy_len > 255:
        raise ValueError("PHY payload length must be 0..255 bytes, not " + str(phy_len))
    if cr < 1 or cr > 4:
        raise ValueError("coding rate index must be 1..4 (4/5..4/8), not " + str(cr))
    t_sym = symbol_time(sf, bw)
    n = payload_symbols(phy_len, sf, bw, cr=cr, crc=crc, implicit_header=implicit_header)
    return (preamble + 4.25) * t_sym + n * t_sym


def lorawan_time_on_air(app_len: int, sf: int, bw: int = BW_125K, uplink: bool = True) -> float:
    """Seconds on air for an application payload of ``app_len`` bytes in a LoRaWAN frame.

    Uplinks carry a payload CRC, downlinks do not (LoRaWAN 1.0 section 4).
    """
    return time_on_air(app_len + LORAWAN_OVERHEAD, sf, bw, crc=uplink)


def off_time(airtime_s: float, duty_cycle: float = DUTY_CYCLE) -> float:
    """Silence a transmitter must keep after a frame of ``airtime_s`` to stay within ``duty_cycle``."""
    return airtime_s * (1.0 / duty_cycle - 1.0)


def max_app_payload(sf: int, dwell: bool = True) -> int | None:
    check_sf(sf)
    return (MAX_APP_PAYLOAD_DWELL if dwell else MAX_APP_PAYLOAD_NO_DWELL)[sf]


def data_rate(sf: int) -> int:
    """AS923 data rate index for a spreading factor at 125 kHz (DR0 = SF12 ... DR5 = SF7)."""
    check_sf(sf)
    return 12 - sf
