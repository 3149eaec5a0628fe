#!/usr/bin/env python3
"""instructions.py - instructions per request (callgrind), in the server and in its instance.

    bench/instructions.py BUILD APPDIR PATH N1 N2

Starts BUILD/devappserver under `valgrind --tool=callgrind --trace-children=yes` (serial
dispatch, one instance), sends PATH N1 times, stops it; then again with N2; and prints the
difference per request, for the server process and for the instance process. Instruction
counts do not drift with the machine's speed, so two builds can be compared exactly (the
figures in the services-core note came from this: BUILD = an old and a new build-bench).
"""
import glob
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def run(build, app, path, n):
    d = tempfile.mkdtemp(prefix="das-cg-")
    try:
        pf = os.path.join(d, "port")
        p = subprocess.Popen(["valgrind", "--tool=callgrind", "--trace-children=yes",
                              "--callgrind-out-file=" + d + "/cg.%p",
                              os.path.join(build, "devappserver"), "--port", "0",
                              "--port-file", pf, "--storage-path", d + "/s", "--no-reload",
                              "--log-level", "warning", "--dispatch", "serial",
                              "--max-instances", "1", app],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while not (os.path.exists(pf) and open(pf).read().strip()):
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        c = http.client.HTTPConnection("127.0.0.1", int(open(pf).read()), timeout=300)
        for i in range(n + 1):  # the first one starts the instance
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError("%s answered %d" % (path, r.status))
        c.close()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=300)
        server = instance = 0
        for f in glob.glob(d + "/cg.*"):
            cmd, ir = "", 0
            for line in open(f, errors="replace"):
                if line.startswith("cmd:"):
                    cmd = line
                elif line.startswith(("totals:", "summary:")):
                    ir = int(line.split()[1])
            if "--instance-role" in cmd:
                instance += ir
            elif "devappserver" in cmd:
                server += ir
        return server, instance
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    build, app, path, n1, n2 = sys.argv[1:3] + [sys.argv[3], int(sys.argv[4]), int(sys.argv[5])]
    s1, i1 = run(build, app, path, n1)
    s2, i2 = run(build, app, path, n2)
    n = n2 - n1
    print("%s %s: server %.0f instructions/request, instance %.0f instructions/request"
          % (build, path, (s2 - s1) / n, (i2 - i1) / n))


if __name__ == "__main__":
    main()
