#!/usr/bin/env python3
"""slowclients.py - while N slow clients each send one header byte every 2 s, how long does a
normal client wait for an answer?

    bench/slowclients.py [--bin build/devappserver] [--clients 1100] [--seconds 40]

Starts devappserver on samples/helloworld (127.0.0.1, a free port, a temporary storage path),
opens the slow connections (a request line, then a header a byte at a time), and meanwhile
sends a normal GET / every 0.5 s on a new connection, timing each. Prints the latencies and how
many slow connections the server cut off; exits 1 when a normal request waited 2 s or more (or
failed). Before the head timeout, 1,024 such clients locked everyone out: libmicrohttpd's
timeout restarts on every byte, and its connection limit was full.
"""
import argparse, http.client, os, resource, selectors, shutil, signal, socket, statistics
import subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "devappserver"))
    ap.add_argument("--clients", type=int, default=1100)
    ap.add_argument("--seconds", type=int, default=40)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = tempfile.mkdtemp(prefix="das-slow-")
    pf = os.path.join(work, "port")
    server = subprocess.Popen([a.bin, "--port", "0", "--port-file", pf, "--storage-path",
                               os.path.join(work, "st"), "--log-level", "warning", "--no-reload",
                               os.path.join(ROOT, "samples", "helloworld")],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log"), "w"))
    slow = []
    try:
        until = time.monotonic() + 60
        while not (os.path.exists(pf) and open(pf).read().strip()):
            if time.monotonic() > until or server.poll() is not None:
                sys.exit("the server did not start")
            time.sleep(0.05)
        port = int(open(pf).read())
        sel = selectors.DefaultSelector()
        opened = cut = 0
        for i in range(a.clients):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            slow.append(s)
            opened += 1
        print("%d slow clients connected" % opened)
        latencies, failures = [], 0
        start = time.monotonic()
        next_drip = next_probe = start
        while time.monotonic() - start < a.seconds:
            now = time.monotonic()
            if now >= next_drip:  # a byte each, every 2 s
                for s in list(slow):
                    try:
                        s.send(b"x")
                    except OSError:
                        pass
                next_drip = now + 2
            if now >= next_probe:
                t0 = time.monotonic()
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("GET", "/")
                    r = c.getresponse()
                    r.read()
                    c.close()
                    if r.status != 200:
                        failures += 1
                    latencies.append(time.monotonic() - t0)
                except OSError as e:
                    failures += 1
                    latencies.append(time.monotonic() - t0)
                    if failures <= 3:
                        print("  normal request failed after %.1f s: %s" % (time.monotonic() - t0, e))
                next_probe = time.monotonic() + 0.5
            for key, _ in sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:  # the server cut it off
                    sel.unregister(s)
                    s.close()
                    slow.remove(s)
                    cut += 1
        lat = sorted(latencies)
        print("normal requests: %d, failed %d; latency median %.1f ms, max %.1f ms"
              % (len(lat), failures, 1000 * statistics.median(lat), 1000 * lat[-1]))
        print("slow connections cut off by the server: %d of %d" % (cut, opened))
        ok = failures == 0 and lat[-1] < 2.0
        print("PASS" if ok else "FAIL: a normal client waited 2 s or more, or failed")
        if not ok:
            print("the server's log ends:\n" + "".join(open(os.path.join(work, "log")).readlines()[-10:]))
        return 0 if ok else 1
    finally:
        for s in slow:
            s.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
