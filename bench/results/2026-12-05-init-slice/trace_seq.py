#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# trace_seq.py TRACE INIT-COMM: for each signal the benchmark sender (initbench) sends to the init,
# whether the init preempted the sender, whether the sender ran again before the child, and the
# median µs from the sender's kill() to the child's switch-in (README.md of this folder).
import re,sys,collections
lines=open(sys.argv[1]).read().splitlines()
init_prefix=sys.argv[2]
c=collections.Counter(); lat=collections.defaultdict(list)
for i,l in enumerate(lines):
    s=l.strip()
    if 'signal_generate' in s and s.startswith('initbench') and 'comm='+init_prefix in s:
        t0=float(re.search(r'(\d+\.\d+):',s).group(1))
        nxt=lines[i+1] if i+1<len(lines) else ''
        preempted='sched_switch' in nxt and 'prev_comm=initbench' in nxt and 'prev_state=R' in nxt and 'next_comm='+init_prefix in nxt
        # find the child's switch-in and whether initbench ran between the init's kill of the child and it
        seen_kill=False; driver_between=False
        for j in range(i+1,min(i+40,len(lines))):
            x=lines[j]
            if 'signal_generate' in x and 'comm=init_child' in x and x.strip().startswith(init_prefix): seen_kill=True; continue
            if seen_kill and 'sched_switch' in x and 'next_comm=initbench' in x: driver_between=True
            if seen_kill and 'sched_switch' in x and 'next_comm=init_child' in x:
                t1=float(re.search(r'(\d+\.\d+):',x).group(1))
                k=('driver preempted by init' if preempted else 'driver not preempted', 'driver ran before child' if driver_between else 'child next')
                c[k]+=1; lat[k].append((t1-t0)*1e6); break
for k,v in sorted(c.items()):
    l=sorted(lat[k]); print(k, v, 'driver kill -> child runs: median %.1f us'%l[len(l)//2])
