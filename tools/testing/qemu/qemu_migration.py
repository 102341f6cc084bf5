#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""QEMU live-migrates a VM with a mockdev-vfio-pci device assigned.

The QMP side of guest-qemu.sh, which loads the driver, binds the functions,
sets their knobs and mounts the trixie root; this runs in that root
(chroot), next to inner.elf and mdv_memcmp. It starts a source and a
destination QEMU, drives them over QMP (one session each, kept open),
migrates over loopback TCP and judges the result. TAP lines on stdout,
numbered from --tap-start + 1; exit status 1 if one is "not ok".

  qemu_migration.py [options] --src BDF --dst BDF tracking
      enable-migration=auto must migrate with device dirty tracking,
      PRE_COPY, MIG_DATA_SIZE and switchover-ack (QEMU's trace says so);
      device digests and guest memory match. Ends with
        qemu-migration: completed, downtime N ms, total N ms,
        device digest match, guest memory match
  qemu_migration.py [options] --src BDF --dst BDF no-tracking LABEL match|informative
      neither the device nor the IOMMU tracks dirty pages: auto must be
      refused with QEMU's dirty-tracking blocker; on must migrate, with guest
      memory judged ("match") or only printed ("informative"). Ends with
        qemu-migration-LABEL: auto refused; on completed, downtime ...

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

HERE = os.path.dirname(os.path.abspath(__file__))
DEBUGFS = '/sys/kernel/debug/mockdev-vfio-pci'
INNER_MB = 256
PATTERN_START = 0x400000  # inner.S: PATTERN_START, PATTERN_END
PATTERN_END = 0x2400000
# pages the device writes during pre-copy (inside the pattern)
DMA_IOVAS = (0x500000, 0x823000, 0xa00800, 0xfff000,
             0x1200000, 0x1801000, 0x2000000, 0x23ff000)
URI = 'tcp:127.0.0.1:4444'
# QEMU's default, stated: the poll loop throttles and restores it
MAX_BANDWIDTH = 128 << 20

TRACE = {
    'src': ('vfio_save_setup', 'vfio_save_iterate', 'vfio_state_pending_estimate',
            'vfio_state_pending_exact', 'vfio_save_complete_precopy',
            'vfio_device_dirty_tracking_start', 'vfio_get_dirty_bitmap',
            'vfio_migration_set_state', 'source_return_path_thread_switchover_acked',
            'migration_bitmap_sync_end'),
    'dst': ('vfio_load_state', 'vfio_migration_set_state',
            'loadvm_state_switchover_ack_needed', 'loadvm_approve_switchover'),
}


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


class Machine:
    """A QEMU running the inner guest with one function assigned; its
    files are /tmp/NAME.{qmp,serial,trace,err}."""

    def __init__(self, name, bdf, enable_migration, iommufd, *extra):
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
                '-D', self.files['trace']]
        for t in TRACE[name]:
            args += ['-trace', t]
        if iommufd:
            args += ['-object', 'iommufd,id=iommufd0', '-device',
                     f'vfio-pci,host={bdf},iommufd=iommufd0,enable-migration={enable_migration}']
        else:
            args += ['-device', f'vfio-pci,host={bdf},enable-migration={enable_migration}']
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


class Result:
    """What one migration left: status (completed, failed, refused ...),
    error, downtime and total time (ms, None if not reported), the pages
    the device wrote during pre-copy."""

    def __init__(self):
        self.status = None
        self.error = None
        self.downtime = None
        self.total = None
        self.written = []


class Case:
    """One source/destination pair of functions, and the TAP it prints."""

    def __init__(self, args):
        self.args = args
        self.n = args.tap_start
        self.failed = False
        self.vms = {}
        self.t0 = time.monotonic()

    def check(self, ok, what):
        self.n += 1
        if not ok:
            self.failed = True
        say(f'{"ok" if ok else "not ok"} {self.n} {what}')

    def el(self):
        return f'{int(time.monotonic() - self.t0)}s'

    def stop(self):
        for vm in self.vms.values():
            vm.shutdown()
        self.vms = {}

    def dma_write(self, iova):
        """The source device writes 64 bytes at iova; None or the error."""
        try:
            with open(f'{DEBUGFS}/{self.args.src}/mock/dma_write', 'w') as f:
                f.write(f'{iova:#x} 64\n')
        except OSError as e:
            return f'dma_write {iova:#x}: {e.strerror}'
        return None

    def migrate(self, label, em, limit=None, early_writes=False):
        """One live migration. The device writes DMA_IOVAS once QEMU's pass
        over RAM is past them, or, with early_writes, as soon as the
        migration is active (held at 1 byte/s until then: without dirty
        tracking QEMU resends all RAM at every sync and completes at the
        first one, there is no pre-copy to write in). Leaves src and dst
        running unless the migration did not start."""
        r = Result()
        self.t0 = time.monotonic()
        iommufd = self.args.iommufd
        dst = self.vms['dst'] = Machine('dst', self.args.dst, em, iommufd, '-incoming', 'defer')
        src = self.vms['src'] = Machine('src', self.args.src, em, iommufd)
        deadline = time.monotonic() + 300
        why = src.connect(deadline) or dst.connect(deadline)
        if why:
            r.error = f'no QMP: {why}: ' + ' '.join(tail(src.files['err'], 3) +
                                                    tail(dst.files['err'], 3))
            self.stop()
            return r
        say(f'# {label}: QMP up after {self.el()}')
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
        for name, vm in (('src', src), ('dst', dst)):
            try:
                vm.cmd('migrate-set-capabilities', capabilities=caps)
            except QMPError as e:
                r.error = f'{name} capabilities: {e}'
                self.stop()
                return r
        dst.cmd('migrate-incoming', uri=URI)
        src.cmd('migrate-set-parameters', **{'max-bandwidth':
                                              1 if early_writes else MAX_BANDWIDTH})
        if limit is not None:
            src.cmd('migrate-set-parameters', **{'downtime-limit': limit})
        try:
            src.cmd('migrate', uri=URI)
        except QMPError as e:
            r.status, r.error = 'refused', str(e)
            self.stop()
            return r
        say(f'# {label}: migrate issued after {self.el()}')
        wrote = False
        for _ in range(3000):
            info = src.cmd('query-migrate')
            st = info.get('status')
            if st in ('completed', 'failed', 'cancelled'):
                break
            ram = info.get('ram', {})
            sync, tot, rem = (ram.get(k) for k in ('dirty-sync-count', 'total', 'remaining'))
            if self.args.debug:
                say(f'# poll {self.el()} status={st} sync={sync} remaining={rem}/{tot}')
            if not wrote and st == 'active' and (
                    early_writes or (rem is not None and (tot or 0) > 0 and
                                     rem < tot - PATTERN_END - (1 << 20))):
                # QEMU's pass over RAM goes up from address 0 and is past
                # the pattern (or done): what the device writes there
                # now, before it is stopped, reaches the destination only
                # through dirty tracking. Throttled to 1 byte/s, the
                # migration can neither go on nor complete while the
                # device writes.
                src.cmd('migrate-set-parameters', **{'max-bandwidth': 1})
                errors = set()
                for iova in DMA_IOVAS:
                    e = self.dma_write(iova)
                    if e:
                        errors.add(e)
                    else:
                        r.written.append(iova)
                say(f'# {label}: {self.el()}: pre-copy, dirty-sync-count {sync}, '
                    f'{(rem or 0) >> 20} MiB of RAM left in this pass: device wrote '
                    f'{len(r.written)} of {len(DMA_IOVAS)} pages')
                for e in sorted(errors):
                    say(f'#   {e}')
                src.cmd('migrate-set-parameters', **{'max-bandwidth': MAX_BANDWIDTH})
                wrote = True
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

    def compare(self, label, r):
        """Device digests and inner-guest memory after a completed
        migration, with both QEMUs still running."""
        digest = {}
        for side in ('src', 'dst'):
            try:
                with open(f'{DEBUGFS}/{getattr(self.args, side)}/digest') as f:
                    digest[side] = f.read().strip()
            except OSError as e:
                digest[side] = ''
                say(f'# {label}: {side} digest: {e.strerror}')
        say(f'# {label}: device digest source {digest["src"]} destination {digest["dst"]}')
        c = {'dig_ok': digest['src'] != '' and digest['src'] == digest['dst']}
        for side, vm in self.vms.items():
            vm.cmd('pmemsave', val=0, size=INNER_MB << 20, filename=f'/tmp/{side}.mem')
        p = subprocess.run([os.path.join(HERE, 'mdv_memcmp'), '/tmp/src.mem', '/tmp/dst.mem',
                            hex(PATTERN_START), hex(PATTERN_END)] +
                           [hex(a) for a in r.written],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = p.stdout.strip()
        for line in out.splitlines():
            say(f'# {label}: {line}')
        c['same'] = p.returncode == 0
        m = re.search(r'written=(\d+)', out)
        c['written'] = int(m.group(1)) if m else 0
        m = re.search(r'listed=(\d+)/', out)
        c['listed'] = int(m.group(1)) if m else 0
        # equal dumps prove nothing unless the device did write, also
        # after the first pass over RAM
        c['mem_ok'] = (c['same'] and c['written'] > 0 and len(r.written) > 0 and
                       c['listed'] == len(r.written))
        for side in ('src', 'dst'):
            os.unlink(f'/tmp/{side}.mem')
        return c


def word(ok):
    return 'match' if ok else 'MISMATCH'


def traces(path):
    try:
        with open(path, errors='replace') as f:
            return f.read().splitlines()
    except OSError:
        return []


def status_text(r):
    return f'{r.status or "none"}{": " + r.error if r.error else ""}'


def tracking(case):
    """enable-migration=auto with DMA logging: everything QEMU can use."""
    r = case.migrate('full', 'auto')
    case.check(r.status == 'completed',
               f'QEMU live migration completed (status {status_text(r)})')
    if r.status != 'completed':
        say(f'qemu-migration: FAILED: {r.status or "not started"}: {r.error or "see below"}')
        for side in ('src', 'dst'):
            for line in tail(f'/tmp/{side}.err', 5):
                say(f'# {side}: {line}')
        case.stop()
        return
    say(f'# downtime {r.downtime} ms, total {r.total} ms')
    dst_st, src_st = case.wait_destination('full')
    c = case.compare('full', r)
    case.check(c['dig_ok'], "destination device digest equals the source's final digest")
    case.check(c['mem_ok'],
               f'inner-guest memory identical, device-written pages included '
               f'({c["written"]} written, {c["listed"]}/{len(r.written)} pre-copy writes)')
    case.check(dst_st == 'running' and src_st == 'postmigrate',
               f'the destination runs, the source is in postmigrate '
               f'(query-status {dst_st}, {src_st})')
    src = traces('/tmp/src.trace')
    dst = traces('/tmp/dst.trace')

    def count(lines, event):
        return sum(event in line for line in lines)
    t = {k: count(src, e) for k, e in (
        ('dirty', 'vfio_device_dirty_tracking_start'), ('bitmap', 'vfio_get_dirty_bitmap'),
        ('iter', 'vfio_save_iterate'), ('exact', 'vfio_state_pending_exact'),
        ('ack', 'source_return_path_thread_switchover_acked'))}
    t['approve'] = count(dst, 'loadvm_approve_switchover')
    t['dmax'] = max([int(m.group(1)) for m in
                     (re.search(r'precopy dirty size (\d+)', line) for line in src) if m],
                    default=0)
    say(f'# trace source: dirty_tracking_start={t["dirty"]} get_dirty_bitmap={t["bitmap"]} '
        f'save_iterate={t["iter"]} pending_exact={t["exact"]} '
        f'switchover_acked={t["ack"]} max_precopy_dirty={t["dmax"]}')
    say(f'# trace destination: approve_switchover={t["approve"]}')
    for line in ([s for s in src if 'vfio_device_dirty_tracking_start' in s][:1] +
                 [s for s in src if 'vfio_save_iterate' in s][:2]):
        say(f'# {line}')
    case.check(t['dirty'] > 0 and t['bitmap'] > 0,
               'QEMU used device dirty tracking (DMA logging)')
    case.check(t['iter'] > 0 and t['dmax'] > 0 and t['exact'] > 0,
               'QEMU used PRE_COPY (dirty bytes reported) and MIG_DATA_SIZE')
    case.check(t['ack'] > 0 and t['approve'] > 0,
               'QEMU used switchover-ack over the return path')
    if c['dig_ok'] and c['mem_ok']:
        say(f'qemu-migration: completed, downtime {r.downtime} ms, total {r.total} ms, '
            f'device digest match, guest memory match')
    else:
        why = f'device digest {word(c["dig_ok"])}'
        if not c['same']:
            why += ', guest memory MISMATCH'
        elif not c['mem_ok']:
            why += (f', guest memory equal but proves nothing (device wrote {c["written"]} '
                    f'pages, {c["listed"]}/{len(r.written)} after the first RAM pass)')
        say(f'qemu-migration: FAILED, downtime {r.downtime} ms, total {r.total} ms, {why}')
    case.stop()


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--src', required=True, help='PCI address of the source function')
    ap.add_argument('--dst', required=True, help='PCI address of the destination function')
    ap.add_argument('--iommufd', action='store_true', help='QEMUs use iommufd')
    ap.add_argument('--debug', action='store_true', help='print every query-migrate poll')
    ap.add_argument('--tap-start', type=int, default=0, help='number of the TAP lines before')
    sub = ap.add_subparsers(dest='case', required=True)
    sub.add_parser('tracking')
    nt = sub.add_parser('no-tracking')
    nt.add_argument('label')
    nt.add_argument('memory', choices=('match', 'informative'))
    args = ap.parse_args()
    case = Case(args)
    try:
        if args.case == 'tracking':
            tracking(case)
        else:
            no_tracking(case, args.label, args.memory)
    except QMPError as e:
        case.check(False, f'QMP: {e}')
    finally:
        case.stop()
    return 1 if case.failed else 0


if __name__ == '__main__':
    sys.exit(main())
