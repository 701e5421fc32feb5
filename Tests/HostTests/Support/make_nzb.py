#!/usr/bin/env python3
"""Posts a file as yEnc articles into an article store, and writes an .nzb for it.

    make_nzb.py FILE --store DIR --nzb OUT.nzb [--name NAME] [--part-size BYTES]
                [--line 128] [--group alt.binaries.test] [--omit N]

FILE is split into parts of --part-size bytes; each part becomes one article,
yEnc-encoded (yEnc 1.3, multi-part: =ybegin part= total= / =ypart / =yend with
the part's pcrc32 and the whole file's crc32), saved in DIR as
"<message-id>.art" (headers, a blank line, the body; CRLF line ends, not
dot-stuffed: nntp_server.py does that when it sends). --store-file FILE writes
the same articles into one file instead (nntp_server.py reads either).
The .nzb names the file once, with one <segment> per article. Every run makes
new message-ids, so NZBGet never takes an NZB for one it already had (it drops
a copy of one it had as DELETED/COPY).
--omit N (1-based) leaves part N out of the store but keeps it in the .nzb: a
missing article (the server answers 430).
Prints one line: the .nzb's path, the number of parts and the file's size.
Python 3 standard library only.
"""
import argparse
import os
import re
import secrets
import time
import zlib
from xml.sax.saxutils import escape, quoteattr

SHIFT = bytes((b + 42) % 256 for b in range(256))  # yEnc: every byte + 42
CRITICAL = re.compile(rb"[\x00\n\r=]")  # always escaped: "=" then (byte + 64)
EDGE = b"\t ."  # escaped at a line's edges: TAB and SPACE at either end, "." at the start


def escape_byte(byte):
    return bytes((0x3D, (byte + 64) % 256))


def yenc_lines(data, line_length):
    """The yEnc body lines of `data`, without line ends."""
    encoded = CRITICAL.sub(lambda m: escape_byte(m[0][0]), data.translate(SHIFT))
    lines, start = [], 0
    while start < len(encoded):
        end = min(start + line_length, len(encoded))
        # An escape pair is never split. Only an escape starts with "=": the
        # escaped values (@ J M }) are never "=".
        if encoded[end - 1] == 0x3D:
            end += 1
        line = encoded[start:end]
        if line[0] in EDGE:
            line = escape_byte(line[0]) + line[1:]
        if line[-1] in b"\t " and len(line) > 1:
            line = line[:-1] + escape_byte(line[-1])
        lines.append(line)
        start = end
    return lines


def article(name, data, part, total, begin, file_size, file_crc, group, line_length):
    """One article (bytes, CRLF line ends) and its message-id (without <>)."""
    message_id = "part%dof%d.%s@nntp.test" % (part, total, secrets.token_hex(6))
    headers = [
        "From: make_nzb <poster@nntp.test>",
        "Newsgroups: " + group,
        'Subject: "%s" yEnc (%d/%d)' % (name, part, total),
        "Message-ID: <%s>" % message_id,
        "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        "Path: nntp.test!not-for-mail",
    ]
    body = [
        "=ybegin part=%d total=%d line=%d size=%d name=%s" % (part, total, line_length, file_size, name),
        "=ypart begin=%d end=%d" % (begin + 1, begin + len(data)),  # 1-based, inclusive
    ]
    text = ("\r\n".join(headers + [""] + body) + "\r\n").encode()
    text += b"".join(line + b"\r\n" for line in yenc_lines(data, line_length))
    text += b"=yend size=%d part=%d pcrc32=%08x crc32=%08x\r\n" % (len(data), part, zlib.crc32(data), file_crc)
    return message_id, text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", help="a directory: one <message-id>.art per article")
    where.add_argument("--store-file", help="one file holding all articles (appended to)")
    parser.add_argument("--nzb", required=True)
    parser.add_argument("--name", help="the file's name in the articles (default: FILE's)")
    parser.add_argument("--part-size", type=int, default=500_000)
    parser.add_argument("--line", type=int, default=128)
    parser.add_argument("--group", default="alt.binaries.test")
    parser.add_argument("--omit", type=int, action="append", default=[], help="leave part N (from 1) out of the store")
    args = parser.parse_args()

    with open(args.file, "rb") as f:
        content = f.read()
    name = args.name or os.path.basename(args.file)
    file_crc = zlib.crc32(content)
    total = max(1, -(-len(content) // args.part_size))
    if args.store:
        os.makedirs(args.store, exist_ok=True)
    segments = []
    for index in range(total):
        begin = index * args.part_size
        message_id, text = article(name, content[begin:begin + args.part_size], index + 1, total, begin, len(content),
                                   file_crc, args.group, args.line)
        segments.append((index + 1, len(text), message_id))
        if index + 1 in args.omit:
            continue
        if args.store:
            with open(os.path.join(args.store, message_id + ".art"), "wb") as f:
                f.write(text)
        else:
            # The single-file store: each article as NNTP sends it (dot-stuffed, ended by ".").
            with open(args.store_file, "ab") as f:
                f.write(re.sub(rb"(?m)^\.", b"..", text) + b".\r\n")

    subject = '"%s" yEnc (1/%d)' % (name, total)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<!DOCTYPE nzb PUBLIC "-//newzBin//DTD NZB 1.1//EN" "http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd">',
        '<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">',
        '  <head><meta type="title">%s</meta></head>' % escape(name),
        '  <file poster="make_nzb &lt;poster@nntp.test&gt;" date="%d" subject=%s>' % (time.time(), quoteattr(subject)),
        "    <groups><group>%s</group></groups>" % escape(args.group),
        "    <segments>",
    ]
    lines += ['      <segment bytes="%d" number="%d">%s</segment>' % (size, number, escape(mid))
              for number, size, mid in segments]
    lines += ["    </segments>", "  </file>", "</nzb>", ""]
    with open(args.nzb, "w") as f:
        f.write("\n".join(lines))
    print("%s %d parts %d bytes" % (args.nzb, total, len(content)))


if __name__ == "__main__":
    main()
