"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "callcentre_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "callcentre_http_request_seconds",
            "HTTP request duration",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.logins = Counter(
            "callcentre_logins", "Login attempts by result", ["result"], registry=self.registry
        )
        self.websockets = Gauge(
            "callcentre_websockets", "Open websocket connections", registry=self.registry
        )
        # Inside the service: from the AMI frame that rang the phone being read, to the pop
        # written to the agent's websocket (pops travel through the bus, on any instance).
        self.pop_seconds = Histogram(
            "callcentre_pop_seconds",
            "Screen pop: AMI frame read to websocket write",
            registry=self.registry,
            buckets=(
                0.0005,
                0.001,
                0.0015,
                0.002,
                0.003,
                0.004,
                0.005,
                0.0075,
                0.01,
                0.015,
                0.02,
                0.03,
                0.05,
                0.1,
                0.25,
                0.5,
                1.0,
            ),
        )
        # How late the event loop wakes up (web/loop_lag.py): the worst of the last seconds,
        # so that a scrape sees a spike between scrapes, and every sample.
        self.loop_lag = Gauge(
            "callcentre_event_loop_lag_seconds",
            "Worst event-loop lag in the last 15 seconds",
            registry=self.registry,
        )
        self.loop_lag_samples = Histogram(
            "callcentre_event_loop_lag",
            "Event-loop lag samples (how late a 50 ms sleep wakes up), in seconds",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25),
        )
        self.ws_dropped = Counter(
            "callcentre_websocket_messages_dropped",
            "Messages not delivered because a browser read too slowly",
            registry=self.registry,
        )
