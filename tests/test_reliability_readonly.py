"""Importing and running from a read-only install with a read-only HOME (issue 11, item 10).

Root ignores permission bits, so as root the package copy and HOME are made read-only for real:
read-only bind mounts in a private mount namespace (`unshare -m`), where writing raises EROFS.
As another user, taking the write bits away is enough.
"""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import tinygrad_rnn as tg

PACKAGE = os.path.dirname(os.path.abspath(tg.__file__))
PROGRAM = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("always")
    import numpy as np
    import tinygrad_rnn
    from tinygrad_rnn.kernels import pointwise
    print("ok", round(pointwise.scalar_exp(np.log(3.0)), 9), pointwise.__file__.startswith(sys.argv[1]))
""")


def _read_only_run(tmp_path, extra_env):
    site, home = tmp_path / "site", tmp_path / "home"
    shutil.copytree(PACKAGE, site / "tinygrad_rnn", ignore=shutil.ignore_patterns("__pycache__"))
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_CACHE", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=str(site), OPENBLAS_NUM_THREADS="1", **extra_env)
    cmd = [sys.executable, "-c", PROGRAM, str(site)]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode:
            pytest.skip("running as root without mount namespaces: cannot make a folder read-only for root")
        mounts = " && ".join(f"mount --bind -o ro {d} {d}" for d in (site, home))
        probe = f"! touch {site}/tinygrad_rnn/x 2>/dev/null && ! touch {home}/x 2>/dev/null"
        cmd = ["unshare", "-m", "sh", "-c", f'{mounts} && {probe} && exec "$@"', "sh", *cmd]
    else:
        for d in (site, home):
            for root, dirs, files in os.walk(d):
                for name in dirs + files + [""]:
                    os.chmod(os.path.join(root, name), 0o555)
    try:
        return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    finally:
        for root, dirs, files in os.walk(tmp_path):
            os.chmod(root, 0o755)


@pytest.mark.parametrize("extra_env", [{}, {"NUMBA_CACHE_DIR": "/proc/tinygrad-rnn-cannot-write-here"}],
                         ids=["no-cache-dir", "unwritable-NUMBA_CACHE_DIR"])
def test_a_read_only_install_imports_and_runs_kernels(tmp_path, extra_env):
    result = _read_only_run(tmp_path, extra_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok 3.0 True"  # a kernel compiled and ran, from the read-only copy
    assert result.stderr.count("numba has no writable cache folder") == 1, result.stderr[-3000:]
