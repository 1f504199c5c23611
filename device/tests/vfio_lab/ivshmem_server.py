#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""ivshmem-doorbell server for the VFIO lab (Debian 12 ships no ivshmem-server).

The protocol (QEMU docs/specs/ivshmem-spec.rst): the server talks in
little-endian int64 messages on a unix stream socket, some carrying one fd
(SCM_RIGHTS). To a client that connects it sends: the protocol version (0),
the client's own peer id, -1 with the shared-memory fd, then for every peer
already connected one (peer id, eventfd) message per vector, and last its
own vectors' eventfds, (own id, eventfd) each. The others learn the new
peer's eventfds the same way; a peer that leaves is announced as its bare id.

A QEMU ivshmem-doorbell device raises MSI-X vector V when its own eventfd V
is signalled: by a doorbell write in the guest (BAR0 + 12 = peer << 16 | V)
or by anyone holding that eventfd. The server keeps them, so a line
"PEER VECTOR [COUNT]" written to the control FIFO fires vector VECTOR of
peer PEER COUNT times (the guest's device is peer 0) from the host.

usage: ivshmem_server.py SOCKET VECTORS [--shm-bytes N] [--control FIFO]
"""
import argparse
import os
import selectors
import socket
import struct
import sys


class Server:
    def __init__(self, path, vectors, shm_bytes, control):
        self.vectors = vectors
        self.shm = os.memfd_create("irqd-ivshmem", os.MFD_CLOEXEC)
        os.ftruncate(self.shm, shm_bytes)
        if os.path.exists(path):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, self.accept)
        self.peers = {}  # peer id -> (socket, [eventfd per vector])
        self.next_id = 0
        self.pending = b""
        if control:
            if not os.path.exists(control):
                os.mkfifo(control)
            # O_RDWR: the FIFO never reads EOF when a writer closes it.
            self.ctl = os.open(control, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            self.sel.register(self.ctl, selectors.EVENT_READ, self.control)

    @staticmethod
    def send(conn, value, fd=-1):
        msg = struct.pack("<q", value)
        if fd < 0:
            conn.sendall(msg)
        else:
            socket.send_fds(conn, [msg], [fd])

    def accept(self, _):
        conn, _ = self.listener.accept()
        pid = self.next_id
        self.next_id += 1
        fds = [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC) for _ in range(self.vectors)]
        self.send(conn, 0)
        self.send(conn, pid)
        self.send(conn, -1, self.shm)
        for other, (oconn, ofds) in self.peers.items():
            for fd in ofds:
                self.send(conn, other, fd)
            for fd in fds:
                self.send(oconn, pid, fd)
        for fd in fds:
            self.send(conn, pid, fd)
        self.peers[pid] = (conn, fds)
        self.sel.register(conn, selectors.EVENT_READ, lambda _c, p=pid: self.hangup(p))
        log("peer %d connected (%d vectors)" % (pid, self.vectors))

    def hangup(self, pid):
        conn, fds = self.peers[pid]
        try:
            if conn.recv(64):
                return  # clients send nothing; ignore it
        except OSError:
            pass
        self.sel.unregister(conn)
        conn.close()
        for fd in fds:
            os.close(fd)
        del self.peers[pid]
        for oconn, _ in self.peers.values():
            self.send(oconn, pid)
        log("peer %d left" % pid)

    def control(self, _):
        self.pending += os.read(self.ctl, 65536)
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            words = line.split()
            try:
                peer, vector = int(words[0]), int(words[1])
                count = int(words[2]) if len(words) > 2 else 1
            except (IndexError, ValueError):
                log("control: ignoring %r (want PEER VECTOR [COUNT])" % line)
                continue
            if peer not in self.peers or not 0 <= vector < self.vectors:
                log("control: no peer %d vector %d" % (peer, vector))
                continue
            for _ in range(count):
                os.eventfd_write(self.peers[peer][1][vector], 1)

    def run(self):
        while True:
            for key, _ in self.sel.select():
                key.data(key.fileobj)


def log(msg):
    print("ivshmem-server: " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("vectors", type=int)
    ap.add_argument("--shm-bytes", type=int, default=1 << 20)
    ap.add_argument("--control")
    a = ap.parse_args()
    srv = Server(a.socket, a.vectors, a.shm_bytes, a.control)
    log("listening on %s, %d vectors, %d bytes shared" % (a.socket, a.vectors, a.shm_bytes))
    srv.run()


if __name__ == "__main__":
    main()
