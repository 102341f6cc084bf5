#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""QEMU live-migrates a VM with mockdev-vfio-pci devices assigned.

The QMP side of guest-qemu.sh, which loads the driver, binds the functions,
sets their knobs and mounts the QEMU roots; this runs in one root (chroot,
QEMU 10.0 or 11.1), next to inner.elf and mdv_memcmp. It starts a source
and a destination QEMU, each with the same number of functions assigned,
drives them over QMP (one session each, kept open), migrates over loopback
TCP and judges the result. TAP lines on stdout, numbered from
--tap-start + 1; exit status 1 if one is "not ok". Every result line
names the QEMU and the shape: "qemu-migration qemu-V devices=N[ TAGS]".

  qemu_migration.py [options] --src BDF[,BDF...] --dst BDF[,...] tracking [--multifd]
      enable-migration=auto must migrate with device dirty tracking,
      MIG_DATA_SIZE and switchover-ack, PRE_COPY unless the devices lack it,
      P2P arcs on every device that has them (QEMU's trace says so); device
      digests and guest memory match. --multifd: multifd channels carry the
      device state (x-migration-multifd-transfer=on), loaded in threads on
      the destination. Ends with
        qemu-migration qemu-V devices=N[ state=SMiB][ quiesce=Qms][ no-precopy][ multifd]:
        completed, downtime N ms, total N ms, device digests match, guest
        memory match, p2p used|p2p not offered[, multifd device state]
  qemu_migration.py [options] --src BDF --dst BDF no-tracking LABEL match|informative
      neither the device nor the IOMMU tracks dirty pages: auto must be
      refused with QEMU's dirty-tracking blocker; on must migrate, with guest
      memory judged ("match") or only printed ("informative"). Ends with
        qemu-migration-LABEL: auto refused; on completed, downtime ...
  qemu_migration.py [options] --src BDF --dst BDF mismatch BDF2
      the destination's device has another state size: the migration fails
      on the destination, the source runs on (VM and device), and then
      migrates to BDF2, whose device matches, with digests and memory
      matching. Ends with "qemu-migration qemu-V mismatch: ...".
  qemu_migration.py [options] --src BDF --dst BDF reinit
      enable-migration=on (no dirty tracking needed); once the source has
      sent its initial data, and before the destination acked it, the
      device is reconfigured (debugfs mock/reconfigure). With
      PRECOPY_INFOv2 (QEMU 11.1 opts in where the kernel has it), QEMU must
      see REINIT and ack the new initial data again; without it the v1
      behaviour must still migrate. Ends with "qemu-migration qemu-V reinit: ...".

Options: --iommufd (the QEMUs use iommufd, not the VFIO container),
--debug (print every query-migrate poll), --tap-start N.

Modelled on QEMU's tests/functional/migration.py and its qemu.qmp use
(vm.cmd('query-migrate')['status']), with the standard library only.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
DEBUGFS = '/sys/kernel/debug/mockdev-vfio-pci'
INNER_MB = 256
PATTERN_START = 0x400000  # inner.S: PATTERN_START, PATTERN_END
PATTERN_END = 0x2400000
# pages the device writes during pre-copy (inside the pattern); device k
# of several writes each of them DMA_STRIDE * k lower, its own pages
DMA_IOVAS = (0x500000, 0x823000, 0xa00800, 0xfff000,
             0x1200000, 0x1801000, 0x2000000, 0x23ff000)
DMA_STRIDE = 0x3000
URI = 'tcp:127.0.0.1:4444'
# QEMU's defaults, stated: the poll loop throttles and restores them
MAX_BANDWIDTH = 128 << 20
DOWNTIME_LIMIT = 300

# The events the judges count, under both QEMUs' names: 11.1 renamed
# vfio_get_dirty_bitmap (vfio_container_query_dirty_bitmap) and merged
# vfio_state_pending_{estimate,exact} into vfio_state_pending; MIG_DATA_SIZE
# has its own event there (vfio_query_stop_copy_size). A name a QEMU does
# not know costs a warning on its stderr, nothing else.
TRACE = {
    'src': ('vfio_save_setup', 'vfio_save_iterate', 'vfio_state_pending_estimate',
            'vfio_state_pending_exact', 'vfio_state_pending', 'vfio_query_stop_copy_size',
            'vfio_query_precopy_size', 'vfio_query_precopy_size_request_switchover_ack',
            'vfio_send_init_data_flag', 'vfio_save_complete_precopy',
            'vfio_save_complete_precopy_thread_start', 'vfio_save_complete_precopy_thread_end',
            'vfio_device_dirty_tracking_start', 'vfio_get_dirty_bitmap',
            'vfio_container_query_dirty_bitmap', 'vfio_migration_init',
            'vfio_migration_set_state', 'vfio_vmstate_change_prepare', 'vfio_vmstate_change',
            'source_return_path_thread_switchover_acked', 'migration_bitmap_sync_end'),
    'dst': ('vfio_load_state', 'vfio_load_state_device_data', 'vfio_migration_init',
            'vfio_migration_set_state', 'loadvm_state_switchover_ack_needed',
            'loadvm_approve_switchover', 'loadvm_approve_switchover_legacy',
            'vfio_load_bufs_thread_start', 'vfio_load_bufs_thread_end',
            'vfio_load_state_device_buffer_incoming',
            'vfio_load_state_device_buffer_load_start',
            'vfio_load_state_device_buffer_load_end'),
}
# a trace line with -msg timestamp=on: 11.1 prefixes ISO-8601 UTC, 10.0
# pid@seconds.microseconds:
TRACE_LINE = re.compile(r'^(?:(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z |'
                        r'\d+@(?P<sec>\d+)\.(?P<usec>\d+):)?(?P<ev>\w+) *(?P<rest>.*)$')


def say(line=''):
    print(line, flush=True)


class QMPError(Exception):
    """An {"error": ...} reply, or a session that broke."""


class QMP:
    """One QMP session over a UNIX socket: greeting, capabilities, then
    cmd() sends a command with an id and returns its "return" value,
    skipping events; an "error" reply raises QMPError(desc)."""

    def __init__(self, path, timeout=300):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.rfile = self.sock.makefile('rb')
        self.next_id = 0
        greeting = self._read()
        if 'QMP' not in greeting:
            raise QMPError(f'no QMP greeting: {greeting}')
        self.cmd('qmp_capabilities')

    def _read(self):
        try:
            line = self.rfile.readline()
        except OSError as e:
            raise QMPError(f'QMP read: {e}') from e
        if not line:
            raise QMPError('QMP connection closed')
        return json.loads(line)

    def cmd(self, name, **arguments):
        self.next_id += 1
        msg = {'execute': name, 'id': self.next_id}
        if arguments:
            msg['arguments'] = arguments
        try:
            self.sock.sendall(json.dumps(msg).encode() + b'\n')
        except OSError as e:
            raise QMPError(f'QMP write: {e}') from e
        while True:
            reply = self._read()
            if reply.get('id') != self.next_id:
                continue  # an event
            if 'error' in reply:
                raise QMPError(reply['error'].get('desc', str(reply['error'])))
            return reply.get('return')

    def close(self):
        self.rfile.close()
        self.sock.close()


def tail(path, n):
    try:
        with open(path, errors='replace') as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


def qemu_version():
    out = subprocess.run(['qemu-system-x86_64', '--version'], stdout=subprocess.PIPE,
                         text=True, check=False).stdout
    m = re.search(r'version (\d+\.\d+)', out)
    return m.group(1) if m else '?'


class Machine:
    """A QEMU running the inner guest with functions assigned; its files
    are /tmp/NAME.{qmp,serial,trace,err}."""

    def __init__(self, name, role, bdfs, enable_migration, iommufd, dev_opts='', extra=()):
        self.name = name
        self.files = {k: f'/tmp/{name}.{k}' for k in ('qmp', 'serial', 'trace', 'err')}
        for f in self.files.values():
            if os.path.exists(f):
                os.unlink(f)
        args = ['qemu-system-x86_64', '-name', name, '-M', 'q35', '-accel', 'tcg',
                '-m', f'{INNER_MB}M', '-nodefaults', '-display', 'none',
                '-kernel', os.path.join(HERE, 'inner.elf'),
                '-serial', f'file:{self.files["serial"]}',
                '-qmp', f'unix:{self.files["qmp"]},server=on,wait=off',
                '-msg', 'timestamp=on', '-D', self.files['trace']]
        for t in TRACE[role]:
            args += ['-trace', t]
        if iommufd:
            args += ['-object', 'iommufd,id=iommufd0']
        for bdf in bdfs:
            args += ['-device', f'vfio-pci,host={bdf},enable-migration={enable_migration}' +
                     (',iommufd=iommufd0' if iommufd else '') + dev_opts]
        args += list(extra)
        with open(self.files['err'], 'w') as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.qmp = None

    def connect(self, deadline):
        """Open the QMP session once the socket is there; None or why not."""
        while not os.path.exists(self.files['qmp']):
            if self.proc.poll() is not None:
                return f'{self.name} exited with {self.proc.returncode}'
            if time.monotonic() > deadline:
                return f'no {self.files["qmp"]}'
            time.sleep(0.2)
        try:
            self.qmp = QMP(self.files['qmp'])
        except (OSError, QMPError, ValueError) as e:
            return f'{self.name}: {e}'
        return None

    def cmd(self, name, **arguments):
        if self.qmp is None:
            raise QMPError(f'{self.name}: no QMP session')
        return self.qmp.cmd(name, **arguments)

    def shutdown(self):
        if self.qmp is not None:
            try:
                self.qmp.cmd('quit')
            except QMPError:
                pass  # it may close the connection before it answers
            self.qmp.close()
            self.qmp = None
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Trace:
    """A QEMU trace log: (seconds or None, event, rest) per line."""

    def __init__(self, path):
        self.lines = []
        try:
            with open(path, errors='replace') as f:
                raw = f.read().splitlines()
        except OSError:
            raw = []
        for line in raw:
            m = TRACE_LINE.match(line)
            if not m:
                continue
            t = None
            if m.group('iso'):
                hms = m.group('iso').split('T')[1].split(':')
                t = int(hms[0]) * 3600 + int(hms[1]) * 60 + float(hms[2])
            elif m.group('sec'):
                t = int(m.group('sec')) + int(m.group('usec')) / 1e6
            self.lines.append((t, m.group('ev'), m.group('rest')))

    def find(self, event, has=''):
        return [(t, rest) for t, ev, rest in self.lines if ev == event and has in rest]

    def count(self, event, has=''):
        return len(self.find(event, has))

    def longest_gap(self, prefix):
        """The longest time between two consecutive lines from the first to
        the last event whose name starts with prefix: (ms, event after it,
        its text); None without timestamps."""
        idx = [i for i, (_, ev, _) in enumerate(self.lines) if ev.startswith(prefix)]
        if not idx:
            return None
        span = self.lines[idx[0]:idx[-1] + 1]
        best = None
        for (t0, _, _), (t1, ev, rest) in zip(span, span[1:]):
            if t0 is not None and t1 is not None and (best is None or t1 - t0 > best[0]):
                best = (t1 - t0, ev, rest)
        return None if best is None else (int(best[0] * 1000), best[1], best[2])


class Result:
    """What one migration left: status (completed, failed, refused ...),
    error, downtime and total time (ms, None if not reported), the pages
    the devices wrote during pre-copy."""

    def __init__(self):
        self.status = None
        self.error = None
        self.downtime = None
        self.total = None
        self.written = []


def debugfs(bdf, name):
    """A file of the device's debugfs directory, stripped; '' if unreadable."""
    try:
        with open(f'{DEBUGFS}/{bdf}/{name}') as f:
            return f.read().strip()
    except OSError:
        return ''


def params(bdf):
    """The device's knobs (debugfs params: "name value" lines)."""
    return dict(line.split(None, 1) for line in debugfs(bdf, 'params').splitlines()
                if ' ' in line)


class Case:
    """Source and destination functions (as many of each), and the TAP
    it prints."""

    def __init__(self, args):
        self.args = args
        self.src = args.src.split(',')
        self.dst = args.dst.split(',')
        self.n = args.tap_start
        self.failed = False
        self.vms = {}
        self.t0 = time.monotonic()
        self.version = qemu_version()

    def check(self, ok, what):
        self.n += 1
        if not ok:
            self.failed = True
        say(f'{"ok" if ok else "not ok"} {self.n} {what}')

    def el(self):
        return f'{int(time.monotonic() - self.t0)}s'

    def stop(self, *names):
        for name in names or list(self.vms):
            vm = self.vms.pop(name, None)
            if vm is not None:
                vm.shutdown()

    def dma_write(self, bdf, iova):
        """The device writes 64 bytes at iova; None or the error."""
        try:
            with open(f'{DEBUGFS}/{bdf}/mock/dma_write', 'w') as f:
                f.write(f'{iova:#x} 64\n')
        except OSError as e:
            return f'dma_write {bdf} {iova:#x}: {e.strerror}'
        return None

    def start_dst(self, em, dst=None, dev_opts=''):
        """A destination QEMU waiting for an incoming migration; None or
        why it did not come up."""
        vm = self.vms['dst'] = Machine('dst', 'dst', dst or self.dst, em, self.args.iommufd,
                                       dev_opts, ('-incoming', 'defer'))
        return vm.connect(time.monotonic() + 300)

    def migrate(self, label, em, limit=None, early_writes=False, writes=True, multifd=False,
                during=None, dst=None, late_limit=None):
        """One live migration, from the running source (started if there is
        none) to a new destination (dst, or the case's). The devices write
        DMA_IOVAS once QEMU's pass over RAM is past them, or, with
        early_writes, as soon as the migration is active (held at 1 byte/s
        until then: without dirty tracking QEMU resends all RAM at every
        sync and completes at the first one, there is no pre-copy to write
        in); writes=False: no writes. late_limit: the downtime limit set
        once the devices wrote (devices without pre-copy: QEMU cannot
        switch over before, whatever the RAM left, since their whole state
        is stop-copy data). during(info) is called at every poll
        of an active migration and returns True once it has done what it
        waits for. Until the devices wrote and during() is done, the
        switchover is held (downtime-limit 0: QEMU completes only with
        nothing pending, and its first pass over RAM is not done); then
        the limit is limit, late_limit or QEMU's default. Leaves src and
        dst running unless the migration did not start."""
        r = Result()
        self.t0 = time.monotonic()
        iommufd = self.args.iommufd
        dev_opts = ',x-migration-multifd-transfer=on' if multifd else ''
        why = self.start_dst(em, dst, dev_opts)
        dst_vm = self.vms['dst']
        src = self.vms.get('src')
        if src is None and not why:
            src = self.vms['src'] = Machine('src', 'src', self.src, em, iommufd, dev_opts)
            why = src.connect(time.monotonic() + 300)
        if why:
            r.error = f'no QMP: {why}: ' + ' '.join(tail('/tmp/src.err', 3) +
                                                    tail(dst_vm.files['err'], 3))
            self.stop()
            return r
        say(f'# {label}: QMP up after {self.el()}')
        deadline = time.monotonic() + 300
        ready = None
        while ready is None and time.monotonic() < deadline:
            ready = next((s for s in tail(src.files['serial'], 50)
                          if 'MDV-INNER: ready' in s), None)
            if ready is None:
                time.sleep(0.2)
        if ready is None:
            r.error = 'inner guest did not come up: ' + ' '.join(
                tail(src.files['err'], 3) + tail(src.files['serial'], 3))
            self.stop()
            return r
        say(f'# {label}: {self.el()}: {ready}')
        caps = [{'capability': 'return-path', 'state': True},
                {'capability': 'switchover-ack', 'state': True}]
        if multifd:
            caps.append({'capability': 'multifd', 'state': True})
        for name, vm in (('src', src), ('dst', dst_vm)):
            try:
                vm.cmd('migrate-set-capabilities', capabilities=caps)
            except QMPError as e:
                r.error = f'{name} capabilities: {e}'
                self.stop()
                return r
        dst_vm.cmd('migrate-incoming', uri=URI)
        src.cmd('migrate-set-parameters', **{'max-bandwidth':
                                              1 if early_writes else MAX_BANDWIDTH})
        hold = (writes and not early_writes) or during is not None
        if hold:
            src.cmd('migrate-set-parameters', **{'downtime-limit': 0})
        elif limit is not None:
            src.cmd('migrate-set-parameters', **{'downtime-limit': limit})
        try:
            src.cmd('migrate', uri=URI)
        except QMPError as e:
            r.status, r.error = 'refused', str(e)
            self.stop()
            return r
        say(f'# {label}: migrate issued after {self.el()}')
        wrote = not writes
        done = during is None
        for poll in range(3000):
            info = src.cmd('query-migrate')
            st = info.get('status')
            if st in ('completed', 'failed', 'cancelled'):
                break
            ram = info.get('ram', {})
            sync, tot, rem = (ram.get(k) for k in ('dirty-sync-count', 'total', 'remaining'))
            if self.args.debug and poll % 10 == 0:
                say(f'# poll {self.el()} status={st} sync={sync} remaining={rem}/{tot} '
                    f'expected-downtime={info.get("expected-downtime")}')
            if not done and st == 'active':
                done = during(info)
            if not wrote and st == 'active' and (
                    early_writes or (rem is not None and (tot or 0) > 0 and
                                     rem < tot - PATTERN_END - (1 << 20))):
                # QEMU's pass over RAM goes up from address 0 and is past
                # the pattern (or done): what the devices write there
                # now, before they are stopped, reaches the destination
                # only through dirty tracking. Held (see above) and
                # throttled to 1 byte/s, the migration can neither
                # complete nor go on while they write.
                src.cmd('migrate-set-parameters', **{'max-bandwidth': 1})
                errors = set()
                for k, bdf in enumerate(self.src):
                    for iova in DMA_IOVAS:
                        e = self.dma_write(bdf, iova - k * DMA_STRIDE)
                        if e:
                            errors.add(e)
                        else:
                            r.written.append(iova - k * DMA_STRIDE)
                say(f'# {label}: {self.el()}: pre-copy, dirty-sync-count {sync}, '
                    f'{(rem or 0) >> 20} MiB of RAM left in this pass: devices wrote '
                    f'{len(r.written)} of {len(DMA_IOVAS) * len(self.src)} pages')
                for e in sorted(errors):
                    say(f'#   {e}')
                src.cmd('migrate-set-parameters', **{'max-bandwidth': MAX_BANDWIDTH})
                wrote = True
            if hold and wrote and done:
                hold = False
                release = {'downtime-limit': late_limit or limit or DOWNTIME_LIMIT}
                if late_limit is not None:
                    # QEMU estimates the downtime at the bandwidth it
                    # measured in the last iteration: with the RAM done
                    # and no pre-copy data that is next to nothing, so
                    # stop-copy state alone never fits (expected-downtime
                    # 5e7 ms for 256 MiB). avail-switchover-bandwidth is
                    # its knob for this: the link's rate instead.
                    release['avail-switchover-bandwidth'] = MAX_BANDWIDTH
                src.cmd('migrate-set-parameters', **release)
            time.sleep(0.2)
        r.status = st
        say(f'# {label}: {st} after {self.el()}')
        r.error = info.get('error-desc')
        r.downtime = info.get('downtime')
        r.total = info.get('total-time')
        return r

    def wait_destination(self, label):
        """migration.py's end state: the destination runs, the source is
        in postmigrate. Waits up to 60 s for the destination (it loads
        the last of the stream after the source saw it sent); returns
        both run states."""
        deadline = time.monotonic() + 60
        while True:
            dst = self.vms['dst'].cmd('query-status')['status']
            if dst == 'running' or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        src = self.vms['src'].cmd('query-status')['status']
        say(f'# {label}: {self.el()}: query-status destination {dst}, source {src}')
        return dst, src

    def compare(self, label, r, dst=None):
        """Device digests and inner-guest memory after a completed
        migration, with both QEMUs still running."""
        ok = True
        for s, d in zip(self.src, dst or self.dst):
            ds, dd = debugfs(s, 'digest'), debugfs(d, 'digest')
            say(f'# {label}: device digest source {s} {ds or "?"} destination {d} {dd or "?"}')
            ok = ok and ds != '' and ds == dd
        c = {'dig_ok': ok}
        for side, vm in self.vms.items():
            vm.cmd('pmemsave', val=0, size=INNER_MB << 20, filename=f'/tmp/{side}.mem')
        p = subprocess.run([os.path.join(HERE, 'mdv_memcmp'), '/tmp/src.mem', '/tmp/dst.mem',
                            hex(PATTERN_START), hex(PATTERN_END)] +
                           [hex(a) for a in r.written],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           check=False)
        out = p.stdout.strip()
        for line in out.splitlines():
            say(f'# {label}: {line}')
        c['same'] = p.returncode == 0
        m = re.search(r'written=(\d+)', out)
        c['written'] = int(m.group(1)) if m else 0
        m = re.search(r'listed=(\d+)/', out)
        c['listed'] = int(m.group(1)) if m else 0
        # equal dumps prove nothing unless the devices did write, also
        # after the first pass over RAM
        c['mem_ok'] = (c['same'] and c['written'] > 0 and len(r.written) > 0 and
                       c['listed'] == len(r.written))
        for side in ('src', 'dst'):
            os.unlink(f'/tmp/{side}.mem')
        return c


def word(ok):
    return 'match' if ok else 'MISMATCH'


def status_text(r):
    return f'{r.status or "none"}{": " + r.error if r.error else ""}'


def failed_line(case, name, r):
    say(f'{name}: FAILED: {r.status or "not started"}: {r.error or "see below"}')
    for side in ('src', 'dst'):
        for line in tail(f'/tmp/{side}.err', 5):
            say(f'# {side}: {line}')
        for line in tail(f'/tmp/{side}.trace', 8):
            say(f'# {side} trace: {line}')


def p2p_check(case, src, dst):
    """QEMU drives the P2P states for every device that offers them: the
    sources pass PRE_COPY_P2P or RUNNING_P2P, the destinations
    RUNNING_P2P. Returns (every device offers P2P, they all did)."""
    offered = all(params(b).get('p2p') == 'true' for b in case.src + case.dst)
    used = (all(src.count('vfio_migration_set_state', f'({b}) new state PRE_COPY_P2P') +
                src.count('vfio_migration_set_state', f'({b}) new state RUNNING_P2P') > 0
                for b in case.src) and
            all(dst.count('vfio_migration_set_state', f'({b}) new state RUNNING_P2P') > 0
                for b in case.dst))
    return offered, used


def serial_arcs(case, src):
    """The stop arcs' cost as QEMU paid it: the time between the first and
    the last device's prepare (PRE_COPY_P2P or RUNNING_P2P, where the
    quiesce latency is) and between the first and the last stop-copy arc.
    QEMU takes them one device after another in its main thread."""
    prep = [t for t, _ in src.find('vfio_vmstate_change_prepare', 'finish-migrate')
            if t is not None]
    stop = [t for t, _ in src.find('vfio_vmstate_change', 'finish-migrate') if t is not None]
    q = max(int(params(b).get('quiesce_latency_ms', '0')) for b in case.src)
    if len(prep) < 2:
        return None
    return (f'P2P prepare of {len(prep)} devices {int((prep[-1] - prep[0]) * 1000)} ms '
            f'first to last, stop-copy arcs {int((stop[-1] - stop[0]) * 1000) if stop else "?"} ms; '
            f'quiesce latency {q} ms each: serial predicts {(len(prep) - 1) * q} ms between '
            f'the first and the last, parallel ~0')


def tracking(case):
    """enable-migration=auto with DMA logging: everything QEMU can use."""
    p = params(case.src[0])
    mb = int(p.get('state_size_mb', '0'))
    precopy = p.get('precopy') != 'false'
    tags = [f'devices={len(case.src)}']
    if mb != 64:
        tags.append(f'state={mb}MiB')
    quiesce = int(p.get('quiesce_latency_ms', '0'))
    if quiesce:
        tags.append(f'quiesce={quiesce}ms')
    if not precopy:
        tags.append('no-precopy')
    if case.args.multifd:
        tags.append('multifd')
    name = f'qemu-migration qemu-{case.version} {" ".join(tags)}'
    label = ' '.join(tags)
    r = case.migrate(label, 'auto', multifd=case.args.multifd,
                     late_limit=None if precopy else 60000)
    case.check(r.status == 'completed',
               f'{label}: QEMU live migration completed (status {status_text(r)})')
    if r.status != 'completed':
        failed_line(case, name, r)
        case.stop()
        return
    say(f'# {label}: downtime {r.downtime} ms, total {r.total} ms')
    dst_st, src_st = case.wait_destination(label)
    c = case.compare(label, r)
    case.check(c['dig_ok'], f"{label}: destination device digests equal the sources' final digests")
    case.check(c['mem_ok'],
               f'{label}: inner-guest memory identical, device-written pages included '
               f'({c["written"]} written, {c["listed"]}/{len(r.written)} pre-copy writes)')
    case.check(dst_st == 'running' and src_st == 'postmigrate',
               f'{label}: the destination runs, the source is in postmigrate '
               f'(query-status {dst_st}, {src_st})')
    case.stop()
    src = Trace('/tmp/src.trace')
    dst = Trace('/tmp/dst.trace')
    t = {
        'dirty': src.count('vfio_device_dirty_tracking_start'),
        'bitmap': (src.count('vfio_get_dirty_bitmap') +
                   src.count('vfio_container_query_dirty_bitmap')),
        'iter': src.count('vfio_save_iterate'),
        # MIG_DATA_SIZE: 10.0 traces the exact pending query, 11.1 the ioctl
        'exact': (src.count('vfio_state_pending_exact') +
                  src.count('vfio_query_stop_copy_size', 'ret 0')),
        'ack': src.count('source_return_path_thread_switchover_acked'),
        'approve': (dst.count('loadvm_approve_switchover') +
                    dst.count('loadvm_approve_switchover_legacy')),
        'v2': src.count('vfio_migration_init', 'precopy_info_v2_used 1'),
        'mf_src': src.count('vfio_save_complete_precopy_thread_start'),
        'mf_dst': dst.count('vfio_load_bufs_thread_start'),
        'mf_bufs': dst.count('vfio_load_state_device_buffer_incoming'),
    }
    # the dirty bytes the devices reported: QEMU's copy after a read
    # (vfio_save_iterate), its pending estimates, and in 11.1 the ioctl's
    # own answer (vfio_query_precopy_size)
    t['dmax'] = max([int(m.group(1)) for m in
                     (re.search(r'(?:precopy dirty size|, dirty) (\d+)', rest)
                      for _, ev, rest in src.lines
                      if ev.startswith(('vfio_save_iterate', 'vfio_state_pending',
                                        'vfio_query_precopy_size'))) if m],
                    default=0)
    say(f'# {label}: trace source: dirty_tracking_start={t["dirty"]} '
        f'dirty_bitmap_queries={t["bitmap"]} save_iterate={t["iter"]} '
        f'mig_data_size={t["exact"]} switchover_acked={t["ack"]} '
        f'max_precopy_dirty={t["dmax"]} precopy_info_v2={t["v2"]} '
        f'save_thread={t["mf_src"]}')
    say(f'# {label}: trace destination: approve_switchover={t["approve"]} '
        f'load_bufs_thread={t["mf_dst"]} multifd_buffers={t["mf_bufs"]}')
    gap = dst.longest_gap('vfio_load_')
    if gap:
        say(f'# {label}: the destination\'s longest pause while it loaded device state: '
            f'{gap[0]} ms, ended by {gap[1]} {gap[2]}')
    loads = {}
    for when, ev, rest in dst.lines:
        m = re.search(r'idx (\d+)', rest)
        if when is None or not m:
            continue
        if ev == 'vfio_load_state_device_buffer_load_start':
            loads[m.group(1)] = [when, None]
        elif ev == 'vfio_load_state_device_buffer_load_end' and m.group(1) in loads:
            loads[m.group(1)][1] = when
    spans = [(int((e - b) * 1000), i) for i, (b, e) in loads.items() if e is not None]
    if spans:
        ms, idx = max(spans)
        say(f'# {label}: the load thread\'s longest buffer load: {ms} ms (buffer {idx} of '
            f'{len(spans)})')
    arcs = serial_arcs(case, src)
    if arcs:
        say(f'# {label}: {arcs}')
    offered, used = p2p_check(case, src, dst)
    case.check(t['dirty'] > 0 and t['bitmap'] > 0,
               f'{label}: QEMU used device dirty tracking (DMA logging)')
    if precopy:
        case.check(t['iter'] > 0 and t['dmax'] > 0 and t['exact'] > 0,
                   f'{label}: QEMU used PRE_COPY (dirty bytes reported) and MIG_DATA_SIZE')
    else:
        case.check(t['iter'] == 0 and t['exact'] > 0,
                   f'{label}: devices without PRE_COPY: no pre-copy data, MIG_DATA_SIZE used '
                   f'(save_iterate={t["iter"]})')
    if precopy:
        case.check(t['ack'] > 0 and t['approve'] > 0,
                   f'{label}: QEMU used switchover-ack over the return path')
    case.check(used if offered else not used,
               f'{label}: P2P arcs on every device ' +
               ('(all offer P2P)' if offered else '(P2P not offered: none expected)'))
    if case.args.multifd:
        case.check(t['mf_src'] >= len(case.src) and t['mf_dst'] >= len(case.dst) and
                   t['mf_bufs'] > 0,
                   f'{label}: device state went over multifd: save threads {t["mf_src"]}, '
                   f'load threads {t["mf_dst"]}, buffers {t["mf_bufs"]}')
    if c['dig_ok'] and c['mem_ok']:
        extra = ', p2p used' if offered and used else ', p2p not offered' if not offered else ''
        if case.args.multifd and t['mf_bufs'] > 0:
            extra += ', multifd device state'
        say(f'{name}: completed, downtime {r.downtime} ms, total {r.total} ms, '
            f'device digests match, guest memory match{extra}')
    else:
        why = f'device digests {word(c["dig_ok"])}'
        if not c['same']:
            why += ', guest memory MISMATCH'
        elif not c['mem_ok']:
            why += (f', guest memory equal but proves nothing (devices wrote {c["written"]} '
                    f'pages, {c["listed"]}/{len(r.written)} after the first RAM pass)')
        say(f'{name}: FAILED, downtime {r.downtime} ms, total {r.total} ms, {why}')


def no_tracking(case, label, on_expect):
    """QEMU cannot use DMA logging and the IOMMU under it has no dirty
    tracking either. enable-migration=auto must be refused with QEMU's
    dirty-tracking blocker. enable-migration=on migrates anyway: through
    the VFIO container (type1), which reports every mapped page dirty,
    guest memory must still match ("match"); through iommufd nothing marks
    RAM dirty, so device writes after the first pass may be lost: that
    result is printed, not judged ("informative")."""
    auto = case.migrate(f'{label}-auto', 'auto')
    say(f'# {label}: enable-migration=auto: {status_text(auto)}')
    case.stop()
    case.check(auto.status == 'refused' and 'dirty tracking' in (auto.error or ''),
               f"{label}: enable-migration=auto is refused with QEMU's dirty-tracking blocker")
    r = case.migrate(f'{label}-on', 'on', limit=30000, early_writes=True)
    warn = next((s for s in tail('/tmp/src.err', 1000) if 'dirty tracking' in s), None)
    if warn:
        say(f'# {label}: enable-migration=on: QEMU: {warn.split("warning: ")[-1]}')
    c = {'dig_ok': False, 'mem_ok': False}
    if r.status == 'completed':
        c = case.compare(f'{label}-on', r)
    if on_expect == 'match':
        case.check(r.status == 'completed' and c['dig_ok'] and c['mem_ok'],
                   f'{label}: enable-migration=on migrates, digest and memory match '
                   f'({status_text(r)})')
    else:
        case.check(r.status == 'completed' and c['dig_ok'],
                   f'{label}: enable-migration=on migrates, device digest matches '
                   f'({status_text(r)})')
        say(f'# {label}: informative: guest memory ' +
            ('matches' if c['mem_ok'] else 'does NOT match: QEMU tracked no dirty RAM'))
    say(f'qemu-migration-{label}: auto {auto.status or "none"}; on {r.status or "none"}, '
        f'downtime {r.downtime if r.downtime is not None else "?"} ms, '
        f'total {r.total if r.total is not None else "?"} ms, '
        f'device digest {word(c["dig_ok"])}, guest memory {word(c["mem_ok"])}')
    case.stop()


def mismatch(case, good):
    """A destination whose device has another state size: its META record
    does not match, the destination fails the migration and exits; the
    source VM and its device must run on, and nothing may be lost: the same
    source then migrates to a destination whose device matches."""
    name = f'qemu-migration qemu-{case.version} mismatch'
    mb = {b: params(b).get('state_size_mb', '?') for b in case.src + case.dst + [good]}
    say(f'# mismatch: source {case.src[0]} {mb[case.src[0]]} MiB, destination '
        f'{case.dst[0]} {mb[case.dst[0]]} MiB, then {good} {mb[good]} MiB')
    r = case.migrate('mismatch', 'auto', writes=False)
    dst_rc = None
    if 'dst' in case.vms:
        try:
            dst_rc = case.vms['dst'].proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    dst_err = [s for s in tail('/tmp/dst.err', 20) if 'warning: trace event' not in s]
    for line in dst_err[-4:]:
        say(f'# mismatch: destination: {line}')
    src_st = case.vms['src'].cmd('query-status')['status'] if 'src' in case.vms else None
    dev_st = debugfs(case.src[0], 'state')
    say(f'# mismatch: {status_text(r)}; destination QEMU exit status {dst_rc}; source '
        f'query-status {src_st}, device {dev_st}')
    case.check(r.status == 'failed',
               f'mismatch: the migration fails (status {status_text(r)})')
    case.check(dst_rc not in (None, 0) and any('load' in s for s in dst_err),
               f'mismatch: the destination failed the load and exited ({dst_rc})')
    case.check(src_st == 'running' and dev_st == 'RUNNING',
               f'mismatch: the source VM and its device run on ({src_st}, {dev_st})')
    case.stop('dst')
    r2 = Result()
    c = {'dig_ok': False, 'same': False}
    if src_st == 'running':
        r2 = case.migrate('mismatch-retry', 'auto', writes=False, dst=[good])
        if r2.status == 'completed':
            case.wait_destination('mismatch-retry')
            c = case.compare('mismatch-retry', r2, dst=[good])
    case.check(r2.status == 'completed' and c['dig_ok'] and c['same'],
               f'mismatch: the same source then migrates to {good}, digests and memory match '
               f'({status_text(r2)})')
    say(f'{name}: first destination {r.status or "none"}, source '
        f'{"running" if src_st == "running" and dev_st == "RUNNING" else "NOT running"}; '
        f'retry {r2.status or "none"}, downtime {r2.downtime} ms, total {r2.total} ms, '
        f'device digests {word(c["dig_ok"])}, guest memory {word(c["same"])}')
    case.stop()


def reinit(case):
    """The device is reconfigured once the source has sent its initial
    data (QEMU traced vfio_send_init_data_flag) and before the destination
    acked it (its allocation latency holds the ack back). With
    PRECOPY_INFOv2, which QEMU 11.1 opts in to where the kernel has it,
    QEMU must see REINIT, request the switchover-ack again and get a second
    approval; without it (v1) REINIT is invisible and the new initial data
    only dirty bytes. Either way the migration must complete with the
    digests and memory matching."""
    name = f'qemu-migration qemu-{case.version} reinit'
    bdf = case.src[0]
    at = {}

    def during(_info):
        if Trace('/tmp/src.trace').count('vfio_send_init_data_flag') == 0:
            return False
        at['approved_before'] = Trace('/tmp/dst.trace').count('loadvm_approve_switchover')
        try:
            with open(f'{DEBUGFS}/{bdf}/mock/reconfigure', 'w') as f:
                f.write('1\n')
            at['t'] = case.el()
        except OSError as e:
            at['error'] = e.strerror
        say(f'# reinit: {case.el()}: initial data sent, device reconfigured '
            f'({at.get("error", "ok")}; approvals so far {at["approved_before"]})')
        return True

    r = case.migrate('reinit', 'on', limit=30000, writes=False, during=during)
    c = {'dig_ok': False, 'same': False}
    if r.status == 'completed':
        case.wait_destination('reinit')
        c = case.compare('reinit', r)
    case.stop()
    src = Trace('/tmp/src.trace')
    dst = Trace('/tmp/dst.trace')
    t = {'v2': src.count('vfio_migration_init', 'precopy_info_v2_used 1'),
         'reinit': src.count('vfio_query_precopy_size', 'reinit 1'),
         'request': src.count('vfio_query_precopy_size_request_switchover_ack'),
         'sent': src.count('vfio_send_init_data_flag'),
         'approve': (dst.count('loadvm_approve_switchover') +
                     dst.count('loadvm_approve_switchover_legacy'))}
    say(f'# reinit: trace: precopy_info_v2_used={t["v2"]} reinit_seen={t["reinit"]} '
        f'ack_requested_again={t["request"]} init_data_sent={t["sent"]} '
        f'approvals={t["approve"]}')
    for _, rest in src.find('vfio_migration_init')[:1]:
        say(f'# reinit: vfio_migration_init {rest}')
    v2_kernel = int(os.uname().release.split('.')[0]) >= 7
    case.check(r.status == 'completed' and c['dig_ok'] and c['same'],
               f'reinit: migration completed, digest and memory match ({status_text(r)})')
    case.check('t' in at and at['approved_before'] == 0,
               f'reinit: the device was reconfigured after its initial data was sent, '
               f'before the ack (' + (f'at {at["t"]}, approvals before it '
                                      f'{at["approved_before"]}' if 't' in at
                                      else at.get('error', 'never')) + ')')
    if v2_kernel:
        case.check(t['v2'] > 0 and t['reinit'] > 0 and t['request'] > 0 and
                   t['sent'] >= 2 and t['approve'] >= 2,
                   'reinit: QEMU opted in to PRECOPY_INFOv2, saw REINIT, asked for the ack '
                   'again and the destination approved the new initial data')
    else:
        case.check(t['v2'] == 0 and t['reinit'] == 0,
                   'reinit: no PRECOPY_INFOv2 in this kernel: QEMU stays v1, no REINIT seen')
    say(f'{name}: {r.status or "none"}, downtime {r.downtime} ms, total {r.total} ms, '
        f'device digest {word(c["dig_ok"])}, guest memory {word(c["same"])}, '
        f'precopy v2 {"used" if t["v2"] else "not used"}, reinit seen {t["reinit"]}, '
        f'initial data acked {t["approve"]} times')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--src', required=True, help='PCI addresses of the source functions (a,b)')
    ap.add_argument('--dst', required=True,
                    help='PCI addresses of the destination functions, as many')
    ap.add_argument('--iommufd', action='store_true', help='QEMUs use iommufd')
    ap.add_argument('--debug', action='store_true', help='print every query-migrate poll')
    ap.add_argument('--tap-start', type=int, default=0, help='number of the TAP lines before')
    sub = ap.add_subparsers(dest='case', required=True)
    tr = sub.add_parser('tracking')
    tr.add_argument('--multifd', action='store_true',
                    help='device state over multifd channels')
    mm = sub.add_parser('mismatch')
    mm.add_argument('good', help='a destination function whose device matches the source')
    sub.add_parser('reinit')
    nt = sub.add_parser('no-tracking')
    nt.add_argument('label')
    nt.add_argument('memory', choices=('match', 'informative'))
    args = ap.parse_args()
    if len(args.src.split(',')) != len(args.dst.split(',')):
        ap.error('--src and --dst need as many functions')
    case = Case(args)
    try:
        if args.case == 'tracking':
            tracking(case)
        elif args.case == 'mismatch':
            mismatch(case, args.good)
        elif args.case == 'reinit':
            reinit(case)
        else:
            no_tracking(case, args.label, args.memory)
    except QMPError as e:
        case.check(False, f'QMP: {e}')
    except Exception as e:  # pylint: disable=broad-except
        # a bug here must fail as a test, visibly, not as a lost exit status
        for line in traceback.format_exc().splitlines():
            say(f'# {line}')
        case.check(False, f'qemu_migration.py: {type(e).__name__}: {e}')
    finally:
        case.stop()
    return 1 if case.failed else 0


if __name__ == '__main__':
    sys.exit(main())
