"""One collector worker process (``collector.workers`` > 1), started by jboxmon/collector_workers.py.

Reads the validated config as JSON on stdin, serves the inherited listening socket with its own
spool until SIGTERM, then drains and exits.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from config import JboxmonConfig
from jboxmon.collector_workers import inherited_socket
from storage import InfluxClient, InfluxSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s worker-{args.index} %(name)s: %(message)s"
    )
    config = JboxmonConfig.model_validate_json(sys.stdin.buffer.read())
    from jboxmon.services import collector_components

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    influx = InfluxClient(InfluxSettings.from_config(config.influxdb))
    components = collector_components(
        config, influx, sock=inherited_socket(args.fd), index=args.index, workers=config.collector.workers
    )
    started = []
    try:
        for component in components:
            component.start()
            started.append(component)
        stop.wait()
    finally:
        for component in reversed(started):
            component.stop()
        influx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
