#!/usr/bin/env python3
# The kernel-MPTCP baseline of the lab (what a user could deploy instead, as OpenMPTCProuter does):
# two small relays over Linux's own MPTCP (IPPROTO_MPTCP sockets), used by scripts/bench-lab.
#   cpe mode: a transparent listener (IP_TRANSPARENT, fed by nftables TPROXY) on the CPE; for each
#             LAN connection it opens an MPTCP connection to the HAG relay, sends one line
#             "HOST PORT\n" naming the original destination, and relays both ways. The subflows
#             come from the kernel's path manager (`ip mptcp endpoint ... subflow`).
#   hag mode: an MPTCP listener on the HAG; reads the line, connects plain TCP to HOST:PORT, relays.
# One thread per direction per connection; half-close is passed on (shutdown(SHUT_WR)).
#   python3 kernel-proxy.py cpe --port 7001 --hag 198.18.101.1:7000
#   python3 kernel-proxy.py hag --listen 198.18.101.1:7000
import argparse
import socket
import sys
import threading

IPPROTO_MPTCP = 262
IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75
CHUNK = 256 * 1024


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pump(src, dst):
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if n == 0:
                break
            dst.sendall(view[:n])
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def relay(a, b):
    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join()
    a.close()
    b.close()


def split_hostport(text):
    host, _, port = text.rpartition(':')
    return host.strip('[]'), int(port)


def cpe_conn(lan, hag):
    try:
        dst = lan.getsockname()
        host = dst[0][7:] if dst[0].startswith('::ffff:') else dst[0]
        fam = socket.AF_INET6 if ':' in hag[0] else socket.AF_INET
        up = socket.socket(fam, socket.SOCK_STREAM, IPPROTO_MPTCP)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up.connect(hag)
        up.sendall(f'{host} {dst[1]}\n'.encode())
    except OSError as e:
        log(f'cpe: {e}')
        lan.close()
        return
    relay(lan, up)


def hag_conn(conn):
    try:
        line = b''
        while not line.endswith(b'\n'):
            c = conn.recv(1)
            if not c:
                conn.close()
                return
            line += c
            if len(line) > 300:
                raise OSError('header line too long')
        host, port = line.decode().split()
        out = socket.create_connection((host, int(port)))
    except (OSError, ValueError) as e:
        log(f'hag: {e}')
        conn.close()
        return
    relay(conn, out)


def serve(listeners, handle):
    def accept_loop(ls):
        while True:
            c, _ = ls.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threads = [threading.Thread(target=accept_loop, args=(ls,), daemon=True) for ls in listeners]
    for t in threads:
        t.start()
    print('ready', flush=True)
    for t in threads:
        t.join()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['cpe', 'hag'])
    p.add_argument('--port', type=int, default=7001)
    p.add_argument('--hag', default='198.18.101.1:7000')
    p.add_argument('--listen', default='198.18.101.1:7000')
    a = p.parse_args()
    if a.mode == 'cpe':
        hag = split_hostport(a.hag)
        listeners = []
        for fam, host, opt in (
            (socket.AF_INET, '0.0.0.0', (socket.SOL_IP, IP_TRANSPARENT)),
            (socket.AF_INET6, '::', (socket.IPPROTO_IPV6, IPV6_TRANSPARENT)),
        ):
            ls = socket.socket(fam, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.setsockopt(opt[0], opt[1], 1)
            if fam == socket.AF_INET6:
                ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            ls.bind((host, a.port))
            ls.listen(511)
            listeners.append(ls)
        serve(listeners, lambda c: cpe_conn(c, hag))
    else:
        host, port = split_hostport(a.listen)
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        ls = socket.socket(fam, socket.SOCK_STREAM, IPPROTO_MPTCP)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, port))
        ls.listen(511)
        serve([ls], hag_conn)


if __name__ == '__main__':
    main()
