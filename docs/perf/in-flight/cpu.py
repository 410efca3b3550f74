#!/usr/bin/env python3
"""CPU per store process and the proposers' batch sizes during a 64-client buy run.

Usage: docs/perf/in-flight/cpu.py [TOOLS]   (default ./target/release/tools)
Runs `TOOLS bench buy --clients 64 --duration 14s --warmup 1s --no-ceiling`; from 5 s into
it, samples utime+stime of every process of the run for 6 s (/proc/<pid>/stat), and at the
end of that window reads each replica's /metrics for its proposer's batch size (items per
proposal: `toystore_<service>_batch_size` sum / count, since the store started).
"""
import glob, os, subprocess, sys, time, tomllib, urllib.request

tools = sys.argv[1] if len(sys.argv) > 1 else "./target/release/tools"
bench = subprocess.Popen([tools, "bench", "buy", "--clients", "64", "--duration", "14s",
                          "--warmup", "1s", "--no-ceiling"], stdout=subprocess.PIPE, text=True)
time.sleep(5)
def procs():
    out = {}
    for pid in [bench.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(bench.pid)],
                                                            capture_output=True, text=True).stdout.split()]:
        try:
            f = open(f"/proc/{pid}/stat").read().split()
            cmd = open(f"/proc/{pid}/cmdline").read().split("\0")
        except OSError:
            continue
        out[pid] = (" ".join(cmd[1:4]), int(f[13]) + int(f[14]))
    return out
a = procs(); time.sleep(6); b = procs()
hz = os.sysconf("SC_CLK_TCK")
total = 0.0
for pid, (name, ticks) in sorted(b.items(), key=lambda kv: kv[1][0]):
    if pid in a:
        cores = (ticks - a[pid][1]) / hz / 6
        total += cores
        print(f"{name:28s} {cores:5.2f} cores")
print(f"{'total':28s} {total:5.2f} cores")
conf = max(glob.glob("/tmp/toystore-bench-*/toystore.toml"), key=os.path.getmtime)
c = tomllib.load(open(conf, "rb"))
for service, entries in (("catalog", c.get("catalogs", [])), ("order", c.get("replicas", []))):
    for r in entries:
        try:
            text = urllib.request.urlopen(f"http://{r['addr']}/metrics", timeout=2).read().decode()
        except OSError as e:
            print(f"{service}-{r['id']}: no metrics ({e})"); continue
        vals = {l.split()[0]: float(l.split()[1]) for l in text.splitlines()
                if l.startswith(f"toystore_{service}_batch_size_")}
        s, n = vals.get(f"toystore_{service}_batch_size_sum", 0), vals.get(f"toystore_{service}_batch_size_count", 0)
        if n:
            print(f"{service}-{r['id']}: {n:.0f} proposals, {s / n:.1f} items each")
out = bench.communicate()[0]
print("\n".join(l for l in out.splitlines() if l.startswith("buy ")))
