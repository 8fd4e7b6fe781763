"""Exit codes of `xlmr` that launchers and shells act on."""

ERROR = 2  # an expected failure: one `error:` line (bad input, missing file, failing store)
# Stopped by SIGTERM or a first Ctrl-C after saving a checkpoint: EX_TEMPFAIL (sysexits.h,
# "try again later"), so a launcher can requeue the job; the same command resumes it.
PREEMPTED = 75
INTERRUPTED = 130  # a second Ctrl-C, or Ctrl-C outside a step loop: 128 + SIGINT, as shells
