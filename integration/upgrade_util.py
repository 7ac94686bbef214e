"""Helpers for tests of binary upgrades: processes that are not the test's children (the new
process of an upgrade is started by the old one). The load under which they run is in
load_util.py."""

import os
import shutil
import signal
import time

from conftest import wait_until


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def read_pid(path):
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def stop_pid(pid, timeout=10.0):
    """SIGTERM a process that is not our child and wait until it is gone (SIGKILL if stuck)."""
    if pid is None or not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def copy_binary(binary, tmp_path):
    """A private copy of the binary, so a test can replace it as a package upgrade would."""
    dst = tmp_path / "switchyard-under-test"
    shutil.copy2(str(binary), str(dst))
    return dst


def replace_binary(src, dst):
    """Install src at dst by renaming a new file over it (the old inode is deleted, as dpkg does)."""
    tmp = dst.with_name(dst.name + ".new")
    shutil.copy2(str(src), str(tmp))
    os.replace(str(tmp), str(dst))


def upgrade_and_wait(send, pid_file, old_pid, timeout=15.0):
    """Trigger an upgrade with send(), wait for a new pid in the pid file and the old one gone."""
    send()
    new = wait_until(lambda: (lambda p: p if p and p != old_pid else None)(read_pid(pid_file)),
                     timeout, what="the new process to take over the pid file")
    wait_until(lambda: not alive(old_pid), timeout, what="the old process %d to exit" % old_pid)
    assert alive(new)
    return new
