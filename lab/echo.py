#!/usr/bin/env python3
"""Lab echo server: answers every line (TCP) or datagram (UDP) with "<name>:<data>", so a
client knows which backend it reached. Usage: echo.py tcp|udp ADDR PORT NAME READY_FILE"""
import socket
import socketserver
import sys

proto, addr, port, name, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
family = socket.AF_INET6 if ":" in addr else socket.AF_INET


class Tcp(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(f"{name}:".encode() + line)


class Server(socketserver.ThreadingTCPServer):
    address_family = family
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256

    def server_bind(self):
        if family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


if proto == "tcp":
    server = Server((addr, port), Tcp)
    open(ready, "w").close()
    server.serve_forever()
else:
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((addr, port))
    open(ready, "w").close()
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(f"{name}:".encode() + data, peer)
