"""sensorgate test helper: child processes that never outlive the test run.

    subprocess.Popen([...], preexec_fn=die_with_parent)

die_with_parent() asks the kernel (prctl PR_SET_PDEATHSIG) to send the
child SIGKILL when the process that started it ends, however it ends: a
test run killed by a signal or by kill -9 leaves no mosquitto or gateway
behind holding ports and spool locks.
"""
import ctypes
import signal

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """preexec_fn for subprocess.Popen (runs in the child before exec)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
