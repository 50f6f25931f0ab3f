"""skydnsctl run in-process, as its main does (the fork's apicmd forms too): (exit code, stdout, stderr)."""
import io
import sys

from skydns.cli import ctl


def ctl_run(*argv):
    out = io.StringIO()
    err = io.StringIO()
    old = sys.stderr
    sys.stderr = err
    try:
        try:
            argv, fork = ctl.apicmd(list(argv))  # the fork's skydns-apicmd forms, as main does
        except ctl.Failed as e:
            return e.status, "", str(e)
        args = ctl.parser().parse_args(list(argv))
        args.apicmd = fork
        try:
            code = ctl.run(args, out)
        except ctl.Failed as e:
            err.write(str(e))
            code = e.status
        except Exception as e:
            err.write(str(e))
            code = 1
    finally:
        sys.stderr = old
    return code, out.getvalue(), err.getvalue()
