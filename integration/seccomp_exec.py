#!/usr/bin/python3
"""Runs a command under a seccomp filter that makes io_uring_setup fail with EPERM.

    seccomp_exec.py PROGRAM [ARGS...]

What Docker (Engine 25+), containerd, Podman and Kubernetes RuntimeDefault do to io_uring: the
filter is inherited across exec, so PROGRAM sees io_uring_setup() return EPERM and every other
syscall allowed. Needs Debian's python3-seccomp.
"""

import errno
import os
import sys

import seccomp

if len(sys.argv) < 2:
    sys.exit(__doc__)
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
f.add_rule(seccomp.ERRNO(errno.EPERM), "io_uring_setup")
f.load()
os.execv(sys.argv[1], sys.argv[1:])
