"""What a batch child (``python -m crawler.run``) and the run manager agree on.

Both sides import this module; neither imports the other (the scheduler never loads
Scrapy), so the strings they exchange live here.
"""

from __future__ import annotations

# Logged by the child as each source's crawl begins: the manager cuts a batch's log into
# one part per run at these lines.
MARKER = "feedmill: crawl of source {source!r} begins"
# The error of a run whose source the child never reached (it was stopped first).
NOT_REACHED = "feedmill stopped before this source's turn in its batch"
# Environment variable: JSON object of source -> seconds the crawl may take.
TIMEOUTS_ENV = "FEEDMILL_RUN_TIMEOUTS"
# Environment variable: the pid of the service that started the child. The child asks
# the kernel to kill it when that process dies (a kill -9 of ``feedmill serve`` must not
# leave crawls running that nobody supervises and whose runs the restart marks interrupted).
PARENT_PID_ENV = "FEEDMILL_PARENT_PID"
# Environment variable: the folder where a batch child writes each run's own log
# (``<folder>/<source>/<run id>.log``), which the manager reads for the run's log tail.
RUN_LOG_DIR_ENV = "FEEDMILL_RUN_LOG_DIR"
