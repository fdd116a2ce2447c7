#!/usr/bin/env python3
"""Check a capture of FlexiNS traffic independently of FlexiNS's own code.

    check_capture.py FILE.pcap

For every UDP datagram to port 4791 in the capture (Ethernet or Linux
cooked framing, as tshark writes for lo), recompute the RoCEv2 ICRC from the
packet *as it was on the wire* — the real IPv4 header with the ID and flags
the kernel chose — with zlib's CRC-32 (an implementation independent of the
engine's ISA-L one), per IBA annex A17.3.3: 8 bytes of 0xFF, IPv4 header
with TOS, TTL and checksum set to ones, UDP header with checksum set to ones,
BTH with byte 4 set to ones, then the rest; stored little-endian.

A UDP GSO send travels over lo unsegmented, so the capture holds it as one
datagram: several RoCE packets back to back, all of one size but the last.
Such a datagram is split as the kernel would segment it for a wire — the
segment size is where the next BTH continues the first one's PSN on the
same QP and the first segment's ICRC matches — and segment k gets the IP
header the kernel would give it: total length of the segment, ID = the
datagram's ID + k.

Prints one JSON object: datagrams, packets, gso_datagrams, icrc_ok,
icrc_bad, ip_id_nonzero (datagrams whose own ID is not 0), df_clear,
opcodes (hex → count). Exit status 0 if every ICRC matched.
"""
import json
import struct
import sys
import zlib


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        sys.exit("not a little-endian pcap file (write it with tshark -F pcap)")
    linktype = struct.unpack("<I", data[20:24])[0]
    at = 24
    while at + 16 <= len(data):
        incl = struct.unpack("<I", data[at + 8:at + 12])[0]
        yield linktype, data[at + 16:at + 16 + incl]
        at += 16 + incl


def ip_packet(linktype, frame):
    if linktype == 1:  # Ethernet
        return frame[14:] if frame[12:14] == b"\x08\x00" else None
    if linktype == 113:  # Linux cooked (SLL)
        return frame[16:] if frame[14:16] == b"\x08\x00" else None
    if linktype == 276:  # SLL2
        return frame[20:] if frame[0:2] == b"\x08\x00" else None
    return None


def icrc_ok(ip, ihl, udp, packet, ip_id):
    """Whether PACKET (a RoCE packet with its ICRC) matches when sent alone
    with the IP and UDP headers of IP/UDP, the IP ID set to IP_ID."""
    masked_ip = bytearray(ip[:ihl])
    masked_ip[1] = 0xFF                 # TOS (DSCP + ECN)
    masked_ip[2:4] = struct.pack(">H", ihl + 8 + len(packet))
    masked_ip[4:6] = struct.pack(">H", ip_id & 0xFFFF)
    masked_ip[8] = 0xFF                 # TTL
    masked_ip[10:12] = b"\xff\xff"      # header checksum
    masked_udp = bytearray(udp[:8])
    masked_udp[4:6] = struct.pack(">H", 8 + len(packet))
    masked_udp[6:8] = b"\xff\xff"       # UDP checksum
    body = bytearray(packet[:-4])
    body[4] = 0xFF                      # BTH: FECN, BECN, resv6
    want = zlib.crc32(b"\xff" * 8 + bytes(masked_ip) + bytes(masked_udp) + bytes(body)) & 0xFFFFFFFF
    return struct.unpack("<I", packet[-4:])[0] == want


def bth_qp_psn(packet):
    return struct.unpack(">I", packet[4:8])[0] & 0xFFFFFF, struct.unpack(">I", packet[8:12])[0] & 0xFFFFFF


def split(ip, ihl, udp, payload, ip_id):
    """The RoCE packets in PAYLOAD: itself, or the segments of a GSO send."""
    if icrc_ok(ip, ihl, udp, payload, ip_id):
        return [payload]
    qp, psn = bth_qp_psn(payload)
    for size in range(28, len(payload) - 12):
        nqp, npsn = bth_qp_psn(payload[size:])
        if nqp == qp and npsn == (psn + 1) & 0xFFFFFF and icrc_ok(ip, ihl, udp, payload[:size], ip_id):
            return [payload[at:at + size] for at in range(0, len(payload), size)]
    return [payload]


def main():
    stats = {"datagrams": 0, "packets": 0, "gso_datagrams": 0, "icrc_ok": 0, "icrc_bad": 0,
             "ip_id_nonzero": 0, "df_clear": 0, "opcodes": {}}
    for linktype, frame in records(sys.argv[1]):
        ip = ip_packet(linktype, frame)
        if ip is None or len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0xF) * 4
        udp = ip[ihl:]
        if len(udp) < 8 or struct.unpack(">H", udp[2:4])[0] != 4791:
            continue
        payload = udp[8:struct.unpack(">H", udp[4:6])[0]]
        if len(payload) < 16:
            continue
        stats["datagrams"] += 1
        ip_id, flags = struct.unpack(">HH", ip[4:8])
        stats["ip_id_nonzero"] += ip_id != 0
        stats["df_clear"] += not (flags & 0x4000)
        packets = split(ip, ihl, udp, payload, ip_id)
        stats["gso_datagrams"] += len(packets) > 1
        for k, packet in enumerate(packets):
            stats["packets"] += 1
            stats["icrc_ok" if icrc_ok(ip, ihl, udp, packet, ip_id + k) else "icrc_bad"] += 1
            op = "0x%02x" % packet[0]
            stats["opcodes"][op] = stats["opcodes"].get(op, 0) + 1
    print(json.dumps(stats, sort_keys=True))
    return 0 if stats["icrc_bad"] == 0 and stats["packets"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
