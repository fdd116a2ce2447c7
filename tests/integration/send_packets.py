#!/usr/bin/env python3
"""Send hostile RoCEv2 datagrams to an engine (used by malformed.sh).

    send_packets.py SRC_ADDR DST_ADDR KIND...

KIND is one of:
  truncated    5 bytes: shorter than a BTH
  random       64 seeded random bytes
  bad_icrc     a well-formed RC SEND_ONLY whose ICRC is wrong
  unknown_qp   a well-formed RC SEND_ONLY, correct ICRC, to a QP that does not exist

The ICRC follows IBA annex A17.3.3 as wire/icrc.h states it: CRC-32 over 8
bytes of 0xFF, the IPv4 header (TOS, TTL, checksum masked to ones), the UDP
header (checksum masked) and the BTH (byte 4 masked), stored little-endian.
The socket sets DF (IP_PMTUDISC_DO), so the kernel sends IP ID 0, which is
what a receiver on a UDP socket assumes when it rebuilds the IP header.
"""
import random
import socket
import struct
import sys
import zlib

ROCE_PORT = 4791
OPCODE_RC_SEND_ONLY = 0x04
UNKNOWN_QPN = 0xABCDEF  # 24 bits; no engine hands out a QPN this high first
IP_PMTUDISC_DO = 2
IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)


def bth(opcode, dest_qp, psn, pad_count=0):
    # IBA 9.2: opcode | SE M PadCnt(2) TVer(4) | P_Key | resv8 | DestQP(24) | A resv7 | PSN(24)
    flags = 0x40 | (pad_count << 4)  # M=1, as RoCE peers send
    return struct.pack(">BBHI I", opcode, flags, 0xFFFF, dest_qp & 0xFFFFFF, psn & 0xFFFFFF)


def icrc(src, dst, sport, udp_payload):
    udp_len = 8 + len(udp_payload) + 4
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0xFF, 20 + udp_len, 0, 0x4000, 0xFF, 17, 0xFFFF,
                     socket.inet_aton(src), socket.inet_aton(dst))
    udp = struct.pack(">HHHH", sport, ROCE_PORT, udp_len, 0xFFFF)
    masked = bytearray(udp_payload)
    masked[4] = 0xFF
    return zlib.crc32(b"\xff" * 8 + ip + udp + bytes(masked)) & 0xFFFFFFFF


def main():
    src, dst, kinds = sys.argv[1], sys.argv[2], sys.argv[3:]
    rng = random.Random(1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    sock.bind((src, 0))
    sport = sock.getsockname()[1]
    payload = b"\xde\xad\xbe\xef"
    for kind in kinds:
        if kind == "truncated":
            pkt = bytes(5)
        elif kind == "random":
            pkt = bytes(rng.getrandbits(8) for _ in range(64))
        elif kind in ("bad_icrc", "unknown_qp"):
            body = bth(OPCODE_RC_SEND_ONLY, UNKNOWN_QPN, 0) + payload
            crc = icrc(src, dst, sport, body)
            if kind == "bad_icrc":
                crc ^= 0x5A5A5A5A
            pkt = body + struct.pack("<I", crc)
        else:
            sys.exit(f"unknown kind {kind}")
        sock.sendto(pkt, (dst, ROCE_PORT))
        print(f"sent {kind}: {len(pkt)} bytes: {pkt.hex()}")


if __name__ == "__main__":
    main()
