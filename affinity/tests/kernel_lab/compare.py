#!/usr/bin/env python3
"""Compare `irqd plan` (kernel planner) with real Linux kernels' managed IRQ masks.

For each shape and each kernel line (Debian 12's 6.1, and its 6.12 from
bookworm-security: the newest linux-image-6.12.*+deb12-amd64 apt-cache
offers), boots a QEMU guest through run.sh with an emulated NVMe controller
and/or a virtio-blk disk, reads the affinity of every nvme0qK and
virtio0-* interrupt, builds an irqd topology from the guest's own view (CPU
ids, nodes, SMT siblings, possible/present), runs

    irqd plan --topology ... --vectors V --pre-vectors 1 [--sets D,R]
              [--offline-cpus LIST] --kernel <the guest's uname -r> --format json

and compares vector K's cpus with the kernel's /proc/irq/N/smp_affinity_list
and, for every managed vector with an online CPU, its serving_cpu with the CPU
in /proc/irq/N/effective_affinity_list (the x86 vector matrix's choice).

NVMe (drivers/nvme/host/pci.c, 6.1 and 6.12): nvme_setup_irqs() asks
pci_alloc_irq_vectors_affinity() for 1 + I/O-queue vectors with pre_vectors=1
(the admin queue); nvme_calc_irq_sets() makes one set, or two when
write_queues=K (set 0 = K default/write queues, set 1 = the rest, read
queues); queue qid K is driven by vector K, named nvme0qK.

virtio-blk (drivers/block/virtio_blk.c init_vq(), drivers/virtio/
virtio_pci_common.c vp_find_vqs_msix()): min(num-queues, nr_cpu_ids) request
queues, one vector each after the config vector, which virtio-pci adds as a
pre vector: 1 + queues vectors, pre_vectors=1, one set; virtio0-config is
vector 0, virtio0-req.K vector K+1.

The guest brings the disk up after the controller, and the x86 vector
matrix counts managed vectors across devices, so the disk's effective CPUs
are checked against the fewest-managed/highest-id rule carried over from
the controller's vectors (irqd plans one device at a time); its masks, and
the controller's masks and effective CPUs, are checked against irqd exactly.

Exit status: 0 every shape PASS; 1 some shape FAIL (or the guest failed to
boot: that is a failure, not a skip); 77 qemu-system-x86_64 is not installed.
Python 3 standard library only.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name, description, run.sh arguments (ioq/wq: NVMe; blk: virtio-blk; kernels:
# the lines booted, default both). QEMU cpu-index == Linux CPU id here
# (checked against the guest's own view anyway: everything below is built from
# what the guest reports).
SMT2 = "sockets=2,cores=2,threads=2"
TWO_NODES = ["0:0-3", "1:4-7"]
UNEQUAL = ["0:0-1", "1:2-3", "2:4-7"]
THREE_EQUAL = ["0:0-1", "1:2-3", "2:4-5"]
FOUR_EQUAL = ["0:0-1", "1:2-3", "2:4-5", "3:6-7"]
EIGHT_EQUAL = [f"{n}:{2 * n}-{2 * n + 1}" for n in range(8)]
KERNELS = ("6.1", "6.12")
SHAPES = [
    ("a8", "2 sockets x 2 cores x 2 threads, 2 nodes (0-3, 4-7), 8 I/O queues",
     dict(smp="8," + SMT2, nodes=TWO_NODES, ioq=8)),
    ("a4", "same, 4 I/O queues (fewer vectors than CPUs: one core per vector)",
     dict(smp="8," + SMT2, nodes=TWO_NODES, ioq=4)),
    ("a3", "same, 3 I/O queues (odd count: which node gets 2)",
     dict(smp="8," + SMT2, nodes=TWO_NODES, ioq=3)),
    ("a6", "same, 6 I/O queues (3 per node over 2 cores each)",
     dict(smp="8," + SMT2, nodes=TWO_NODES, ioq=6)),
    ("b8", "-smp 4,maxcpus=8 (CPUs 4-7 possible, not present), 2 nodes, 8 I/O queues",
     dict(smp="4,maxcpus=8," + SMT2, nodes=TWO_NODES, ioq=8)),
    ("b4", "same, 4 I/O queues (present CPUs fill all vectors, hotplug CPUs added from vector 1)",
     dict(smp="4,maxcpus=8," + SMT2, nodes=TWO_NODES, ioq=4)),
    ("b6", "-smp 3,maxcpus=6, 1 thread/core, nodes 0:0-2 1:3-5, 6 I/O queues (hotplug node rule)",
     dict(smp="3,maxcpus=6,sockets=2,cores=3,threads=1", nodes=["0:0-2", "1:3-5"], ioq=6)),
    ("c8", "3 unequal nodes 2+2+4 (0-1, 2-3, 4-7), no SMT, 8 I/O queues",
     dict(smp="8,sockets=1,cores=8,threads=1", nodes=UNEQUAL, ioq=8)),
    ("c5", "same, 5 I/O queues",
     dict(smp="8,sockets=1,cores=8,threads=1", nodes=UNEQUAL, ioq=5)),
    ("c3", "same, 3 I/O queues (one vector per node)",
     dict(smp="8,sockets=1,cores=8,threads=1", nodes=UNEQUAL, ioq=3)),
    ("d8", "a-shape, nvme.write_queues=2: two sets (2 default/write + 6 read)",
     dict(smp="8," + SMT2, nodes=TWO_NODES, ioq=8, wq=2)),
    ("d5", "c-shape, nvme.write_queues=2: two sets (2 + 3)",
     dict(smp="8,sockets=1,cores=8,threads=1", nodes=UNEQUAL, ioq=5, wq=2)),
    # Equal NUMA nodes: the order lib/sort.c gives them changed in v6.11.
    ("e3", "3 equal nodes of 2 CPUs (0-1, 2-3, 4-5), no SMT; NVMe 6 I/O queues, virtio-blk 6 queues",
     dict(smp="6,sockets=3,cores=2,threads=1", nodes=THREE_EQUAL, ioq=6, blk=6)),
    ("e3w", "same, nvme.write_queues=2 (2 default + 4 read); virtio-blk 4 queues",
     dict(smp="6,sockets=3,cores=2,threads=1", nodes=THREE_EQUAL, ioq=6, wq=2, blk=4)),
    ("e4", "4 equal nodes of 2 CPUs, no SMT; NVMe 8 I/O queues, virtio-blk 8 queues",
     dict(smp="8,sockets=4,cores=2,threads=1", nodes=FOUR_EQUAL, ioq=8, blk=8)),
    ("e4w", "same, nvme.write_queues=2 (2 default + 6 read); virtio-blk 6 queues",
     dict(smp="8,sockets=4,cores=2,threads=1", nodes=FOUR_EQUAL, ioq=8, wq=2, blk=6)),
    ("e8", "8 equal nodes of 2 CPUs (16 CPUs), no SMT; NVMe 16 I/O queues, virtio-blk 16 queues",
     dict(smp="16,sockets=8,cores=2,threads=1", nodes=EIGHT_EQUAL, ioq=16, blk=16, mem=128)),
    ("f8", "2 sockets x 2 nodes (one 2-thread core each: 0-1, 2-3 | 4-5, 6-7); NVMe 8 I/O queues, "
     "virtio-blk 6 queues", dict(smp="8," + SMT2, nodes=FOUR_EQUAL, ioq=8, blk=6)),
    ("f8w", "same, nvme.write_queues=2 (2 default + 6 read); virtio-blk 4 queues",
     dict(smp="8," + SMT2, nodes=FOUR_EQUAL, ioq=8, wq=2, blk=4)),
]


def parse_list(text):
    """Linux cpulist ("0-3,8", "4, 5" from blk-mq, "") -> sorted list of ints."""
    out = set()
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-")
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    return sorted(out)


def fmt_list(cpus):
    cpus = sorted(cpus)
    if not cpus:
        return "(none)"
    parts, start, prev = [], cpus[0], cpus[0]
    for c in cpus[1:] + [None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if c is not None:
            start = prev = c
    return ",".join(parts)


class Guest:
    """What the guest kernel reported (KLAB lines)."""

    def __init__(self, lines):
        self.cpus = {}  # id -> dict(node, siblings)
        self.node_cpus = {}  # node -> online cpus of the node (cpumask_of_node)
        self.irqs = {}  # nvme queue index (= vector) -> dict(irq, smp, eff, node)
        self.virtio_irqs = {}  # virtio-blk vector (config 0, req.K K+1) -> dict(irq, smp, eff, node)
        self.queues = None  # (default, read, poll)
        self.kernel = "?"
        for line in lines:
            f = line.split(" ", 2)
            if len(f) < 2 or f[0] != "KLAB":
                continue
            key, rest = f[1], f[2] if len(f) > 2 else ""
            if key == "kernel":
                self.kernel = rest
            elif key in ("cpu_possible", "cpu_present", "cpu_online", "node_online"):
                setattr(self, key, parse_list(rest))
            elif key == "node":
                m = re.match(r"(\d+) cpulist (.*?) distance", rest)
                self.node_cpus[int(m.group(1))] = parse_list(m.group(2))
            elif key == "cpu":
                m = re.match(r"(\d+) node (\S+) pkg (\S*) core (\S*) siblings (\S*) online", rest)
                self.cpus[int(m.group(1))] = dict(node=int(m.group(2)) if m.group(2) != "-" else 0,
                                                  siblings=parse_list(m.group(5)))
            elif key == "irq":
                m = re.match(r"(\d+) name (\S+) smp (\S*) eff (\S*) node (\S*)", rest)
                if not m:
                    continue
                irq = dict(irq=int(m.group(1)), smp=parse_list(m.group(3)), eff=parse_list(m.group(4)),
                           node=int(m.group(5)))
                n = re.fullmatch(r"nvme0q(\d+)", m.group(2))
                v = re.fullmatch(r"virtio0-(config|req\.(\d+))", m.group(2))
                if n:
                    self.irqs[int(n.group(1))] = irq
                elif v:
                    self.virtio_irqs[0 if v.group(1) == "config" else int(v.group(2)) + 1] = irq
            elif key == "dmesg":
                m = re.search(r"nvme0: (\d+)/(\d+)/(\d+) default/read/poll queues", rest)
                if m:
                    self.queues = tuple(int(x) for x in m.groups())


def node_of_hotplug_cpu(cpu, online_nodes):
    """cpu_to_node() of a possible-but-not-present x86 CPU.

    Such a CPU has no APIC id when init_cpu_to_node() runs, so it keeps what
    numa_init_array() (arch/x86/mm/numa.c) gave every CPU id beforehand: the
    online nodes round-robin by CPU id."""
    return online_nodes[cpu % len(online_nodes)]


def guest_topology(g, notes):
    """CPU id -> (node, siblings) as the guest kernel sees it."""
    online_nodes = g.node_online or [0]
    confirmed = []
    topo = {}
    for cpu in g.cpu_possible:
        if cpu in g.cpus:
            topo[cpu] = (g.cpus[cpu]["node"], g.cpus[cpu]["siblings"] or [cpu])
        else:
            topo[cpu] = (node_of_hotplug_cpu(cpu, online_nodes), [cpu])
    # Cross-check hotplug CPUs' nodes with the kernel's own evidence: a managed
    # interrupt's descriptor is allocated on cpu_to_node(first CPU of its mask)
    # (alloc_descs), shown in /proc/irq/N/node.
    for q, irq in sorted(g.irqs.items()):
        if q == 0 or not irq["smp"]:
            continue
        first = irq["smp"][0]
        if first not in g.cpus and first in topo and topo[first][0] == irq["node"]:
            confirmed.append(f"{first}->{irq['node']}")
        elif first not in g.cpus and first in topo:
            notes.append(f"hotplug CPU {first}: /proc/irq/{irq['irq']}/node says node {irq['node']}, "
                         f"round-robin rule said {topo[first][0]}; using the kernel's")
            topo[first] = (irq["node"], [first])
    if confirmed:
        notes.append("hotplug CPU nodes confirmed by the kernel (/proc/irq/N/node of single-CPU masks): " +
                     ", ".join(confirmed))
    return topo


def synthetic_string(topo, g):
    """hwloc synthetic string for a symmetric topology, else None."""
    nodes = sorted({n for n, _ in topo.values()})
    if nodes != list(range(len(nodes))):
        return None
    cores = {}
    for cpu, (node, sib) in topo.items():
        cores[tuple(sib)] = node
    for sib, node in cores.items():
        if any(topo.get(c, (None,))[0] != node for c in sib):
            return None
    per_node = {n: sorted(s for s, nn in cores.items() if nn == n) for n in nodes}
    ncores = {len(v) for v in per_node.values()}
    nthreads = {len(s) for s in cores}
    if len(ncores) != 1 or len(nthreads) != 1:
        return None
    C, T = ncores.pop(), nthreads.pop()
    order = [c for n in nodes for sib in per_node[n] for c in sib]
    idx = "" if order == list(range(len(order))) else "(indexes=" + ",".join(map(str, order)) + ")"
    return f"pack:{len(nodes)} [numa] core:{C} pu:{T}{idx}" if len(nodes) > 1 else f"core:{C} pu:{T}{idx}"


def xml_topology(topo, path):
    """hwloc 2 XML: Machine > Group per node (NUMANode memory child) > Core > PU."""
    def mask(cpus):
        v = 0
        for c in cpus:
            v |= 1 << c
        words = []
        while True:
            words.append(f"0x{v & 0xffffffff:08x}")
            v >>= 32
            if not v:
                break
        return ",".join(reversed(words))

    gp = [0]

    def attrs(cpus, nodes):
        gp[0] += 1
        cs, ns = mask(cpus), mask(nodes)
        return (f'cpuset="{cs}" complete_cpuset="{cs}" nodeset="{ns}" complete_nodeset="{ns}" '
                f'gp_index="{gp[0]}"')

    nodes = sorted({n for n, _ in topo.values()})
    allc = sorted(topo)
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<!DOCTYPE topology SYSTEM "hwloc2.dtd">',
           '<topology version="2.0">',
           f'  <object type="Machine" os_index="0" {attrs(allc, nodes)} allowed_cpuset="{mask(allc)}" '
           f'allowed_nodeset="{mask(nodes)}">']
    core_id = 0
    for n in nodes:
        ncpus = sorted(c for c, (nn, _) in topo.items() if nn == n)
        out.append(f'    <object type="Group" {attrs(ncpus, [n])} kind="1000">')
        out.append(f'      <object type="NUMANode" os_index="{n}" {attrs(ncpus, [n])} local_memory="268435456"/>')
        seen = set()
        for c in ncpus:
            sib = tuple(x for x in topo[c][1] if topo.get(x, (None,))[0] == n)
            if sib in seen:
                continue
            seen.add(sib)
            out.append(f'      <object type="Core" os_index="{core_id}" {attrs(sib, [n])}>')
            core_id += 1
            for p in sib:
                out.append(f'        <object type="PU" os_index="{p}" {attrs([p], [n])}/>')
            out.append('      </object>')
        out.append('    </object>')
    out += ['  </object>', '</topology>', '']
    with open(path, "w") as f:
        f.write("\n".join(out))


def run_irqd(irqd, spec, vectors, sets, offline, kernel):
    cmd = [irqd, "plan", "--topology", spec, "--vectors", str(vectors), "--pre-vectors", "1", "--kernel", kernel,
           "--format", "json"]
    if len(sets) > 1:
        cmd += ["--sets", ",".join(map(str, sets))]
    if offline:
        cmd += ["--offline-cpus", fmt_list(offline)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return cmd, json.loads(p.stdout)


def boot(name, shape, kernel, args, workdir):
    """Runs the guest (twice at most); returns (run.sh exit code, stdout, seconds)."""
    cmd = [args.run_sh, "-k", kernel, "-t", str(args.timeout), "-s", shape["smp"]]
    if shape.get("ioq"):
        cmd += ["-q", str(shape["ioq"])]
    if shape.get("wq"):
        cmd += ["-w", str(shape["wq"])]
    if shape.get("blk"):
        cmd += ["-b", str(shape["blk"])]
    if shape.get("mem"):
        cmd += ["-m", str(shape["mem"])]
    for n in shape.get("nodes", []):
        cmd += ["-n", n]
    # QEMU's multi-threaded TCG now and then oopses the 6.12 guest while it
    # patches its own text at boot (int3 in sched_clock_cpu; once twice in a
    # row, under no other load): up to three boots before it counts.
    for attempt in (1, 2, 3):
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.time() - t0
        with open(os.path.join(workdir, f"{name}-{kernel}.guest{attempt}.log"), "w") as f:
            f.write(p.stdout + "\n--- stderr ---\n" + p.stderr)
        if p.returncode in (0, 77):
            break
        print(f"  the QEMU guest did not boot/report (run.sh exit {p.returncode}, {dt:.1f} s, attempt {attempt}):")
        print("\n".join("    " + line for line in p.stderr.strip().splitlines()[-25:]))
    if p.returncode == 77:
        print(p.stderr.strip())
    return p.returncode, p.stdout, dt


def compare_device(label, prefix, irqs, sets, g, topo, offline, plan, managed_count, strict_serving):
    """Vector by vector: the kernel's masks (irqs) against irqd's plan. managed_count
    carries the x86 vector matrix's managed vectors per CPU over the devices of the
    guest, in the order they were activated. Returns the number of differences."""
    print(f"  {'vec':>3} {'irq':<16} {'set':>3} {'kernel smp_affinity':<20} {'eff':<5} {'irqd cpus':<20} "
          f"{'serving':<7} result")
    fails = 0
    # Effective CPU of a managed vector (x86 vector matrix,
    # matrix_find_best_cpu_managed()): the online CPU of its mask with the
    # fewest managed vectors so far; the comparison is '>', so the LAST
    # (highest-id) such CPU wins a tie. Vectors are activated in queue order.
    # irqd's serving_cpu must be exactly that CPU for the first device; the
    # rule is also applied here on the kernel's own masks (over every device
    # so far), to tell an irqd slip from a rule change.
    eff_rule = eff_irqd = eff_total = 0
    for v in plan["vectors"]:
        k = v["index"]
        kern = irqs[k]
        serving = "-" if v["serving_cpu"] is None else str(v["serving_cpu"])
        if v["role"] == "pre":
            # Pre vector: irq_create_affinity_masks() gives it irq_default_affinity
            # (all CPUs, what irqd prints); the interrupt is not managed, so /proc
            # shows what irq_setup_affinity() made of it: & online, then &
            # cpumask_of_node(desc node) when that intersects, the desc node being
            # cpu_to_node() of the mask's first CPU (alloc_descs()).
            expect = [c for c in v["cpus"] if c in g.cpu_online]
            nodemask = g.node_cpus.get(topo[v["cpus"][0]][0], [])
            if set(expect) & set(nodemask):
                expect = [c for c in expect if c in nodemask]
            ok = kern["smp"] == expect
            res = ("ok" if ok else "DIFF") + f" (pre: irqd {fmt_list(v['cpus'])} & online & node -> {fmt_list(expect)})"
        else:
            ok = kern["smp"] == v["cpus"]
            res = "ok" if ok else "DIFF"
            if not v["managed"]:
                ok = False
                res = "DIFF (irqd: not managed)"
            online = [c for c in kern["smp"] if c in g.cpu_online]
            if online:
                best = min(managed_count.get(c, 0) for c in online)
                rule = max(c for c in online if managed_count.get(c, 0) == best)
                managed_count[rule] = best + 1
                eff_total += 1
                eff_rule += kern["eff"] == [rule]
                eff_irqd += kern["eff"] == [v["serving_cpu"]]
                wanted = [v["serving_cpu"]] if strict_serving else [rule]
                if kern["eff"] != wanted:
                    ok = False
                    res = (res if res != "ok" else "SERVING-DIFF") + \
                        f" (effective CPU {fmt_list(kern['eff'])}, irqd serving CPU {serving}, " \
                        f"fewest-managed/highest-id rule on the kernel's masks: {rule})"
            elif v["serving_cpu"] is not None:
                ok = False
                res += f" (no online CPU: the kernel shut it down, but irqd serves it on {serving})"
            else:
                res += " (no online CPU: interrupt shut down)"
        fails += not ok
        eff = fmt_list(kern["eff"]) if set(kern["smp"]) & set(g.cpu_online) or v["role"] == "pre" else "-"
        name = f"{prefix}{k}" if prefix == "nvme0q" else (f"{prefix}config" if k == 0 else f"{prefix}req.{k - 1}")
        print(f"  {k:>3} {name:<16} {'-' if v['set'] is None else v['set']:>3} {fmt_list(kern['smp']):<20} "
              f"{eff:<5} {fmt_list(v['cpus']):<20} {serving:<7} {res}")
    if eff_total:
        print(f"  {label}: effective CPUs of the managed vectors: {eff_irqd}/{eff_total} equal irqd's serving_cpu" +
              (" (must be all)" if strict_serving else " (this device alone; another's vectors came first)") +
              f"; {eff_rule}/{eff_total} follow 'fewest managed vectors, highest id on a tie' applied to the "
              "kernel's masks" + ("" if strict_serving else " of every device so far (must be all)"))
    return fails


def compare_shape(name, desc, shape, kernel, args, workdir):
    print(f"\n=== {name} on {kernel}: {desc}")
    rc, out, dt = boot(name, shape, kernel, args, workdir)
    if rc == 77:
        return "SKIP", dt
    if rc != 0:
        print("  FAIL: no kernel masks to compare with (guest failed three times)")
        return "BOOT-FAIL", dt
    g = Guest(out.splitlines())
    notes = []
    topo = guest_topology(g, notes)
    offline = [c for c in g.cpu_possible if c not in g.cpu_present]
    print(f"  guest {g.kernel}: possible {fmt_list(g.cpu_possible)} present {fmt_list(g.cpu_present)} "
          f"online {fmt_list(g.cpu_online)}; qemu+guest {dt:.1f} s")
    if not g.kernel.startswith(kernel + "."):
        print(f"  FAIL: asked for a {kernel} guest, it runs {g.kernel}")
        return "FAIL", dt
    for n in sorted({n for n, _ in topo.values()}):
        cores = sorted({tuple(s) for c, (nn, s) in topo.items() if nn == n})
        print(f"  node {n}: " + " ".join("[" + fmt_list(c) + "]" for c in cores) +
              ("" if all(c in g.cpus for c, (nn, _) in topo.items() if nn == n) else
               "   (hotplug CPUs: node by numa_init_array round robin)"))

    # The devices, in the order their vectors were activated.
    devices = []
    if shape.get("ioq"):
        io = sorted(q for q in g.irqs if q >= 1)
        default_q, read_q, _poll = g.queues or (len(io), 0, 0)
        sets = [default_q, read_q] if read_q else [default_q]
        print(f"  nvme: {1 + len(io)} vectors = 1 admin (pre) + sets {sets}" +
              (f"  [dmesg: {default_q}/{read_q}/{_poll} default/read/poll]" if g.queues else ""))
        if io != list(range(1, 1 + len(io))) or sum(sets) != len(io) or 0 not in g.irqs:
            print(f"  FAIL: unexpected nvme queue interrupts {io} for sets {sets}")
            return "FAIL", dt
        devices.append(("nvme", "nvme0q", g.irqs, sets))
    if shape.get("blk"):
        vecs = sorted(g.virtio_irqs)
        queues = min(shape["blk"], len(g.cpu_possible))
        print(f"  virtio-blk: {len(vecs)} vectors = 1 config (pre) + {len(vecs) - 1} request queues "
              f"(num-queues {shape['blk']}, nr_cpu_ids {len(g.cpu_possible)})")
        if vecs != list(range(queues + 1)):
            print(f"  FAIL: unexpected virtio interrupts {vecs}, wanted config + {queues} request queues")
            return "FAIL", dt
        devices.append(("virtio-blk", "virtio0-", g.virtio_irqs, [queues]))
    for n in notes:
        print("  note: " + n)

    syn = synthetic_string(topo, g)
    xml = os.path.join(workdir, f"{name}-{kernel}.topology.xml")
    xml_topology(topo, xml)
    specs = ([("synthetic", "synthetic:" + syn)] if syn else []) + [("xml", "xml:" + xml)]
    status = "PASS"
    managed_count = {}
    for i, (label, prefix, irqs, sets) in enumerate(devices):
        vectors = 1 + sum(sets)
        plans = []
        for slabel, spec in specs:
            try:
                icmd, plan = run_irqd(args.irqd, spec, vectors, sets, offline, g.kernel)
            except RuntimeError as e:
                print(f"  FAIL: {e}")
                return "FAIL", dt
            plans.append((slabel, spec, icmd, plan))
        if len(plans) == 2 and ([v["cpus"] for v in plans[0][3]["vectors"]] !=
                                [v["cpus"] for v in plans[1][3]["vectors"]]):
            print(f"  FAIL: irqd gives different {label} masks for the synthetic and the XML form of the topology")
            status = "FAIL"
        _, spec, icmd, plan = plans[0]
        if plan.get("kernel_version") != g.kernel:
            print(f"  FAIL: irqd followed kernel {plan.get('kernel_version')!r}, not the guest's {g.kernel!r}")
            status = "FAIL"
        print(f"  {label} irqd: " + " ".join(f"'{a}'" if " " in a else a for a in icmd[1:]))
        if compare_device(label, prefix, irqs, sets, g, topo, offline, plan, managed_count, strict_serving=i == 0):
            status = "FAIL"
    if offline and shape.get("nodes") and shape.get("ioq"):
        # What a user would type from the QEMU command line: hotplug CPUs on the
        # node QEMU's SRAT puts them on. Informational only.
        _, _, irqs, sets = devices[0]
        vectors = 1 + sum(sets)
        asked = {}
        for spec_n in shape["nodes"]:
            n, cpus = spec_n.split(":")
            for part in cpus.split("+"):
                for c in parse_list(part):
                    asked[c] = int(n)
        naive = {c: (asked.get(c, node), sib) for c, (node, sib) in topo.items()}
        nxml = os.path.join(workdir, f"{name}-{kernel}.naive.xml")
        xml_topology(naive, nxml)
        _, nplan = run_irqd(args.irqd, "xml:" + nxml, vectors, sets, offline, g.kernel)
        diff = [(v["index"], v["cpus"]) for v in nplan["vectors"]
                if v["role"] != "pre" and irqs[v["index"]]["smp"] != v["cpus"]]
        print("  info: with the hotplug CPUs on the nodes QEMU's SRAT gives them "
              f"({', '.join(f'{c}->{asked[c]}' for c in offline if c in asked)}), irqd would give " +
              ("the same masks" if not diff else
               "; ".join(f"q{k}: {fmt_list(c)} (kernel {fmt_list(irqs[k]['smp'])})" for k, c in diff)))
    print(f"  {name} on {kernel}: {status}")
    return status, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--irqd", default=os.path.join(HERE, "../../../build/debug/cli/irqd"))
    ap.add_argument("--run-sh", default=os.path.join(HERE, "run.sh"))
    # IRQD_KLAB_SHAPES: CI's subset (.ci/run), the default of a ctest run.
    ap.add_argument("--shapes", default=os.environ.get("IRQD_KLAB_SHAPES", "all"),
                    help="comma-separated names (" + ",".join(s[0] for s in SHAPES) +
                    ") or all (default: $IRQD_KLAB_SHAPES, else all)")
    ap.add_argument("--kernels", default=",".join(KERNELS), help="comma-separated kernel lines to boot "
                    "(" + ", ".join(KERNELS) + "; default all; a shape may leave one out)")
    ap.add_argument("--timeout", type=int, default=120, help="per guest boot, seconds")
    ap.add_argument("--keep", help="directory for guest logs and generated topologies (default: temporary)")
    args = ap.parse_args()
    if shutil.which("qemu-system-x86_64") is None:
        print("kernel_lab: SKIP (qemu-system-x86_64 is not installed: "
              "apt-get install -y --no-install-recommends qemu-system-x86 busybox-static cpio)")
        return 77
    if not os.access(args.irqd, os.X_OK):
        print(f"compare: irqd binary {args.irqd} not found (build it, or pass --irqd)", file=sys.stderr)
        return 1
    helptext = subprocess.run([args.irqd, "plan", "--help"], capture_output=True, text=True).stdout
    if "--kernel" not in helptext:
        print(f"compare: {args.irqd} plan has no --kernel option: it cannot follow the guest's kernel line",
              file=sys.stderr)
        return 1
    chosen = SHAPES if args.shapes == "all" else [s for s in SHAPES if s[0] in args.shapes.split(",")]
    unknown = set(args.shapes.split(",")) - {s[0] for s in SHAPES} - {"all"}
    kernels = [k for k in args.kernels.split(",") if k]
    if unknown or not chosen or not kernels or set(kernels) - set(KERNELS):
        print(f"compare: unknown shape(s) {sorted(unknown)} or kernel line(s) {sorted(set(kernels) - set(KERNELS))}",
              file=sys.stderr)
        return 2
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="irqd-kernel-lab.") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        results = []
        stop = False
        for kernel in kernels:
            for name, desc, shape in chosen:
                if kernel not in shape.get("kernels", KERNELS):
                    continue
                status, dt = compare_shape(name, desc, shape, kernel, args, workdir)
                results.append((name, kernel, desc, status, dt))
                if status == "SKIP":
                    print("\nkernel_lab: SKIP (qemu-system-x86_64 is not installed)")
                    return 77
                if status == "BOOT-FAIL":
                    print("\nkernel_lab: FAIL: QEMU could not boot the guest; not trying the other shapes")
                    stop = True
                    break
            if stop:
                break
    print("\nshape  kernel result  guest_s  description")
    for name, kernel, desc, status, dt in results:
        print(f"{name:<6} {kernel:<6} {status:<7} {dt:7.1f}  {desc}")
    failed = [f"{r[0]}@{r[1]}" for r in results if r[3] != "PASS"]
    print(f"total {time.time() - t0:.1f} s; " + ("all PASS" if not failed else "FAIL: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
