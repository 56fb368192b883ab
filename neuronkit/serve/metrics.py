"""Prometheus metrics of one server (``GET /metrics`` on the REST port).

Counts and times follow what Triton exports (request outcomes, queue time, batch size, compute
time, pending requests), under neuronkit's names. Each server has its own registry, so several
servers in one process (tests) never share counters. A request for a model the server does not
hold is counted with ``model=""``: names from URLs never become label values.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        labels = ("model", "version")
        self.requests = Counter("neuronkit_requests", "Inference requests by outcome (ok or a status code name).",
                                (*labels, "protocol", "outcome"), registry=self.registry)
        self.queue_seconds = Histogram("neuronkit_queue_seconds", "Time a request waited for its batch to start.",
                                       labels, buckets=LATENCY_BUCKETS, registry=self.registry)
        self.inference_seconds = Histogram("neuronkit_inference_seconds", "Time one batch took on a replica.",
                                           labels, buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("neuronkit_batch_size", "Rows in each batch run.", labels,
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.replicas_busy = Gauge("neuronkit_replicas_busy", "Replicas running a batch now.", labels,
                                   registry=self.registry)
        self.queued = Gauge("neuronkit_queued_requests", "Requests waiting for a batch.", labels,
                            registry=self.registry)

    def watch(self, mv) -> None:
        """Report a model version's busy replicas and queue length whenever metrics are read."""
        labels = (mv.name, str(mv.version))
        self.replicas_busy.labels(*labels).set_function(lambda: mv.batcher.busy if mv.batcher else 0)
        self.queued.labels(*labels).set_function(lambda: mv.batcher.queued if mv.batcher else 0)

    def observe_batch(self, mv, stats) -> None:
        labels = (mv.name, str(mv.version))
        for seconds in stats.queue_seconds:
            self.queue_seconds.labels(*labels).observe(seconds)
        self.inference_seconds.labels(*labels).observe(stats.run_seconds)
        self.batch_size.labels(*labels).observe(stats.rows)

    def count(self, mv, protocol: str, outcome: str) -> None:
        name, version = (mv.name, str(mv.version)) if mv is not None else ("", "")
        self.requests.labels(name, version, protocol, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
