#!/usr/bin/env python3
"""A small NNTP server on loopback that serves stored articles, for NZBGet's tests.

    nntp_server.py STORE [--port 0] [--user U --password P] [-v]

STORE is what make_nzb.py writes: a directory of "<message-id>.art" files (read
again on every request, so deleting one makes a missing article, 430), or one
file of articles as NNTP sends them (read once, at start). The server listens
on 127.0.0.1:PORT (0: a free port) and prints "LISTENING <port>" once it does.
With --user/--password, every command but AUTHINFO, CAPABILITIES, MODE READER
and QUIT needs AUTHINFO USER/PASS first (480).

NZBGet sends, per connection: AUTHINFO USER/PASS (only when its server has a
username), GROUP when its server's JoinGroup is on, then BODY <message-id> per
article, and QUIT. The rest (ARTICLE, HEAD, STAT, CAPABILITIES, MODE READER,
DATE) is there for people and other clients. Articles by number are not served.
-v logs each command to stderr. Python 3 standard library only.
"""
import argparse
import os
import re
import socketserver
import sys
import time

ARTICLE_ENDS = re.compile(rb"\r\n\.\r\n")


def load_file(path):
    """The articles of a single-file store, by message-id (with <>), as raw articles."""
    with open(path, "rb") as f:
        blocks = ARTICLE_ENDS.split(b"\r\n" + f.read())
    articles = {}
    for block in blocks:
        raw = re.sub(rb"(?m)^\.\.", b".", block.lstrip(b"\r\n"))  # undo the dot-stuffing
        found = re.search(rb"(?im)^Message-ID:\s*(<[^>]+>)", raw.split(b"\r\n\r\n", 1)[0])
        if found:
            articles[found[1].decode()] = raw + b"\r\n"
    return articles


class Handler(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def send_block(self, data):
        """A multi-line answer: dot-stuffed lines, then "."."""
        self.wfile.write(re.sub(rb"(?m)^\.", b"..", data))
        if not data.endswith(b"\r\n"):
            self.wfile.write(b"\r\n")
        self.wfile.write(b".\r\n")

    def find(self, message_id):
        """The raw article (headers, blank line, body), or None."""
        server = self.server
        if server.articles is not None:
            return server.articles.get(message_id)
        name = message_id[1:-1]
        if "/" in name or name.startswith("."):
            return None
        try:
            with open(os.path.join(server.store, name + ".art"), "rb") as f:
                return f.read()
        except OSError:
            return None

    def handle(self):
        server = self.server
        authenticated = server.user is None
        user = None
        self.send("200 nntp_server.py ready (posting ok)")
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").strip()
            words = line.split()
            if not words:
                continue
            command = words[0].upper()
            if server.verbose:
                shown = "AUTHINFO PASS ***" if line.upper().startswith("AUTHINFO PASS") else line
                print("nntp: " + shown, file=sys.stderr, flush=True)
            if command == "QUIT":
                self.send("205 bye")
                return
            if command == "AUTHINFO" and len(words) == 3 and words[1].upper() == "USER":
                user = words[2]
                self.send("381 password required")
            elif command == "AUTHINFO" and len(words) == 3 and words[1].upper() == "PASS":
                authenticated = user == server.user and words[2] == server.password
                self.send("281 authentication accepted" if authenticated else "481 authentication failed")
            elif command == "CAPABILITIES":
                self.send("101 capability list follows")
                extra = [] if authenticated else ["AUTHINFO USER"]
                self.send_block("\r\n".join(["VERSION 2", "READER", "IMPLEMENTATION nntp_server.py"] + extra).encode())
            elif command == "MODE" and len(words) == 2 and words[1].upper() == "READER":
                self.send("200 reader mode, posting ok")
            elif not authenticated:
                self.send("480 authentication required")
            elif command == "DATE":
                self.send("111 " + time.strftime("%Y%m%d%H%M%S", time.gmtime()))
            elif command == "GROUP" and len(words) == 2:
                # Every group exists; the numbers mean nothing (articles go by message-id).
                self.send("211 0 1 0 %s" % words[1])
            elif command in ("ARTICLE", "HEAD", "BODY", "STAT") and len(words) == 2:
                self.serve(command, words[1])
            elif command in ("ARTICLE", "HEAD", "BODY", "STAT"):
                self.send("420 no current article selected")
            else:
                self.send("500 unknown command")
            self.wfile.flush()

    def serve(self, command, message_id):
        if not (message_id.startswith("<") and message_id.endswith(">")):
            self.send("423 no article with that number")  # numbers: none stored
            return
        article = self.find(message_id)
        if article is None:
            self.send("430 no such article")
            return
        head, _, body = article.partition(b"\r\n\r\n")
        code = {"ARTICLE": 220, "HEAD": 221, "BODY": 222, "STAT": 223}[command]
        self.send("%d 0 %s" % (code, message_id))
        if command == "ARTICLE":
            self.send_block(article)
        elif command == "HEAD":
            self.send_block(head + b"\r\n")
        elif command == "BODY":
            self.send_block(body)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", help="a directory of <message-id>.art files, or one file of articles")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")

    server = Server(("127.0.0.1", args.port), Handler)
    server.store = args.store
    server.articles = None if os.path.isdir(args.store) else load_file(args.store)
    server.user, server.password, server.verbose = args.user, args.password, args.verbose
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
